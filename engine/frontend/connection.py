"""One client connection: optional TLS and the SASL handshake, both within one login deadline,
then Thrift requests until the client leaves.

* Each request is received whole and its structure checked before thriftpy2 decodes it
  (:mod:`engine.frontend.stream`): a request beyond the limits, or one thriftpy2 would loop on,
  closes this connection only, with one WARNING line.
* A logged-in connection that holds no open session and sends nothing for
  ``kyuubi.frontend.thrift.connection.idle.timeout`` is closed by the server's idle reaper
  (:meth:`Connection.cut_if_idle`); one that holds a session never is. Reads block without a
  timeout, so the request path pays nothing for this.
* Connection limits: the address was admitted by the server before the handshake; the user is
  admitted after the PLAIN response and before its password is checked (SASL), or at the first
  OpenSession (NOSASL). A refused client is told why: a SASL ERROR/BAD frame, or an error status
  answering its first RPC. Then the connection closes.
* Unknown methods get Thrift's standard ``TApplicationException(UNKNOWN_METHOD)`` and the
  connection stays open.
"""

from __future__ import annotations

import logging
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any

# thriftpy2 binds these names to its C-accelerated classes (cybin) whenever they are available,
# and to the pure-Python ones otherwise.
from thriftpy2.protocol import TBinaryProtocol
from thriftpy2.thrift import TApplicationException, TMessageType, TProcessor
from thriftpy2.transport import TBufferedTransport

from engine.auth import PasswordAuthenticator
from engine.backend import BackendService
from engine.common.errors import AuthenticationError
from engine.common.logging_context import LogThrottle
from engine.common.redaction import clip
from engine.frontend import sasl
from engine.frontend.handler import ThriftHandler
from engine.frontend.idl import TCLI
from engine.frontend.limit import ConnectionLimiter
from engine.frontend.replay import SettledReplies
from engine.frontend.stream import PeerClosedError, SocketStream
from engine.frontend.validator import MalformedMessageError

log = logging.getLogger(__name__)

BUFFER_SIZE = 256 * 1024
ACCELERATED = "cybin" in TBinaryProtocol.__module__
REFUSAL_TIMEOUT = 5.0  # longest a refused client may take to send its first request
DRAIN_LIMIT = 64 * 1024  # bytes read from a refused client before closing (so it gets our reply)
MAX_REPORTED_METHOD_NAMES = 8  # distinct unknown method names logged per connection before throttling


@dataclass(frozen=True)
class ConnectionSettings:
    authenticator: PasswordAuthenticator | None  # None: NOSASL
    login_timeout: float
    idle_timeout: float  # 0: never
    max_message_size: int
    max_container_length: int
    ssl_context: ssl.SSLContext | None = None
    close_sessions_on_disconnect: bool = True


class Connection:
    def __init__(
        self,
        sock: socket.socket,
        peer: str,
        backend: BackendService,
        settings: ConnectionSettings,
        limiter: ConnectionLimiter,
        *,
        refusal: str | None = None,
    ) -> None:
        self.sock = sock
        self.peer = peer
        self.address = peer.rpartition(":")[0] or peer
        self.backend = backend
        self.settings = settings
        self.limiter = limiter
        self.refusal = refusal  # over a connection limit: tell the client why, then close
        self.accepted_at = time.monotonic()
        self.handler: ThriftHandler | None = None
        self.requests = 0
        self._user: str | None = None  # the user this connection counts towards
        self.last_active = self.accepted_at  # when the last request arrived
        self.cut: str | None = None  # why the idle reaper closed this connection
        self._unknown_methods = LogThrottle()
        self._unknown_names: set[str] = set()

    def shutdown(self) -> None:
        """Unblock a pending read (server stop); the serving thread then cleans up."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def cut_if_idle(self, now: float) -> bool:
        """Close this connection when it is logged in, holds no open session and has received
        no request for the idle timeout; called by the server's idle reaper thread."""
        handler, idle = self.handler, self.settings.idle_timeout
        if handler is None or self.cut is not None or idle <= 0 or now - self.last_active < idle:
            return False
        if handler.has_live_session():  # never cut a connection that holds a session
            return False
        self.cut = f"no open session and idle for {now - self.last_active:.0f} s"
        log.info("closing connection from %s: %s", self.peer, self.cut)
        self.shutdown()
        return True

    def serve(self) -> None:
        try:
            if self.refusal is not None:
                self._refuse()
                return
            user = self._login()
            if user is False:
                return
            self.last_active = time.monotonic()
            self.handler = ThriftHandler(
                self.backend,
                user if isinstance(user, str) else None,
                self.peer,
                admit=self._admit_user if self.settings.authenticator is None else None,
            )
            self._loop(self.handler)
        finally:
            if self.handler is not None and self.settings.close_sessions_on_disconnect:
                self.handler.close_sessions()
            if self._user is not None:
                self.limiter.release_user(self._user, self.address)
            try:
                self.sock.close()
            except OSError:
                pass

    # --- login ------------------------------------------------------------------------------
    def _login(self) -> str | bool | None:
        """The SASL user, None for NOSASL, or False when the connection must close."""
        settings = self.settings
        deadline = self.accepted_at + settings.login_timeout
        try:
            self._start_tls(deadline)
            if settings.authenticator is None:
                return None
            credentials = sasl.read_credentials(self.sock, deadline)
            user = credentials.authcid
            # The limit before the password: a refused user costs no password hashing.
            refusal = self.limiter.check_user(user, self.address)
            if refusal is None:
                settings.authenticator.authenticate(user, credentials.password, deadline=deadline)
                refusal = self.limiter.admit_user(user, self.address)
            if refusal is not None:
                log.warning("connection from %s refused: %s", self.peer, refusal)
                sasl.refuse(self.sock, sasl.SaslStatus.ERROR, refusal)
                self._close_gracefully(deadline)
                return False
            self._user = user
            sasl.complete(self.sock)
            log.info("SASL PLAIN login of %s from %s", clip(user), self.peer)
            return user
        except AuthenticationError as exc:
            log.warning("connection from %s refused: %s", self.peer, exc)
            sasl.refuse(self.sock, sasl.SaslStatus.BAD, str(exc))
            return False
        except sasl.SaslError as exc:
            log.warning("connection from %s refused: %s", self.peer, exc)
            return False
        except TimeoutError:
            log.warning(
                "connection from %s did not finish its handshake within %.1f s",
                self.peer,
                settings.login_timeout,
            )
            return False
        except (OSError, ssl.SSLError) as exc:
            log.info("connection from %s failed during login: %s", self.peer, exc)
            return False

    def _start_tls(self, deadline: float) -> None:
        if self.settings.ssl_context is None:
            return
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the TLS handshake passed its deadline")
        self.sock.settimeout(remaining)  # CPython applies it to the whole handshake
        self.sock = self.settings.ssl_context.wrap_socket(self.sock, server_side=True)

    def _admit_user(self, user: str) -> str | None:
        """NOSASL: count this connection towards the user of its first OpenSession."""
        refusal = self.limiter.admit_user(user, self.address)
        if refusal is None:
            self._user = user
        else:
            log.warning("connection from %s refused: %s", self.peer, refusal)
        return refusal

    # --- refusal (over the per-address limit) -----------------------------------------------
    def _refuse(self) -> None:
        """Answer the client's first request with the reason, then close."""
        assert self.refusal is not None
        deadline = self.accepted_at + min(self.settings.login_timeout, REFUSAL_TIMEOUT)
        try:
            self._start_tls(deadline)
            if self.settings.authenticator is not None:
                sasl.read_frame(self.sock, deadline)
                sasl.refuse(self.sock, sasl.SaslStatus.ERROR, self.refusal)
            else:
                self.sock.settimeout(max(deadline - time.monotonic(), 0.001))
                handler = ThriftHandler(self.backend, None, self.peer, refusal=self.refusal)
                self._loop(handler, once=True)
            self._close_gracefully(deadline)
        except (sasl.SaslError, TimeoutError, OSError, ssl.SSLError) as exc:
            log.debug("refused connection from %s ended: %s", self.peer, exc)

    def _close_gracefully(self, deadline: float) -> None:
        """Half-close and read what the client still sends, so that our last reply reaches it
        instead of being lost to a reset."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
            drained = 0
            while drained < DRAIN_LIMIT:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.sock.settimeout(remaining)
                chunk = self.sock.recv(16384)
                if not chunk:
                    break
                drained += len(chunk)
        except (OSError, ValueError):
            pass

    # --- requests ---------------------------------------------------------------------------
    def _loop(self, handler: ThriftHandler, *, once: bool = False) -> None:
        settings = self.settings
        stream = SocketStream(
            self.sock,
            framed=settings.authenticator is not None,
            max_message_size=settings.max_message_size,
            max_container_length=settings.max_container_length,
        )
        transport = TBufferedTransport(stream, BUFFER_SIZE)
        protocol = TBinaryProtocol(transport, strict_read=True, decode_response=True)
        processor = TProcessor(TCLI.TCLIService, handler)
        clean = getattr(transport, "clean", None)  # the C transport's; drops any leftover bytes
        replies = SettledReplies()
        if not once:
            # Blocking reads: no timeout poll per request. The server's idle reaper cuts a
            # connection that holds no session and has been quiet too long (cut_if_idle).
            self.sock.settimeout(None)
        while True:
            try:
                stream.next_message()
            except TimeoutError:  # only a refusal waits with a timeout
                return
            except PeerClosedError as exc:
                if self.cut is not None:
                    return
                if exc.mid_message:
                    log.info("client %s went away in the middle of a request", self.peer)
                else:
                    log.debug("client %s disconnected after %d requests", self.peer, self.requests)
                return
            except MalformedMessageError as exc:
                log.warning("closing connection from %s: refused request (%s)", self.peer, exc)
                return
            except OSError as exc:
                log.debug("connection from %s ended: %s", self.peer, exc)
                return
            self.last_active = time.monotonic()
            replay = replies.lookup(stream.message)
            if replay is not None:  # a settled status asked again: no decode, no lookup
                stream.skip()
                try:
                    stream.send(replay.reply(stream.message))
                    self.requests += 1
                    self.requests += stream.answer_repeats(stream.message, replay)
                except PeerClosedError:
                    log.debug("client %s disconnected after %d requests", self.peer, self.requests)
                    return
                except OSError as exc:
                    log.debug("connection from %s ended: %s", self.peer, exc)
                    return
                self.last_active = time.monotonic()
                continue
            if clean is not None:
                clean()  # only the checked message is ever decoded
            handler.settled = None
            try:
                api, seqid, result, call = processor.process_in(protocol)
            except Exception as exc:  # the walk accepted what thriftpy2 did not: a decoder limit
                log.warning(
                    "closing connection from %s: undecodable request (%s: %s)",
                    self.peer,
                    type(exc).__name__,
                    clip(exc, 200),
                )
                return
            self.requests += 1
            if isinstance(result, TApplicationException):
                self._log_unknown_method(api)
                if not self._send(processor, protocol, stream, api, seqid, exception=result):
                    return
            else:
                assert call is not None
                result.success = call()  # the handler's decorator turns every failure into a TStatus
                if not self._send(processor, protocol, stream, api, seqid, result=result):
                    return
                if handler.settled is not None:
                    replies.remember(stream.message, stream.last_reply, handler.settled)
            if once or handler.close_requested:
                return

    def _log_unknown_method(self, api: str | bytes) -> None:
        """Each of the first few distinct names once (impyla's GetLog, CloseImpalaOperation), then
        at most one line per interval: calling unknown methods must not flood the log."""
        name = clip(api)
        if len(self._unknown_names) < MAX_REPORTED_METHOD_NAMES and name not in self._unknown_names:
            self._unknown_names.add(name)
            log.info("client %s called unknown method %s", self.peer, name)
            return
        held = self._unknown_methods.allow()
        if held is not None:
            log.info(
                "client %s called unknown method %s%s",
                self.peer,
                name,
                f" ({held} more unknown calls since the last report)" if held else "",
            )

    def _send(
        self,
        processor: TProcessor,
        protocol: Any,
        stream: SocketStream,
        api: str,
        seqid: int,
        *,
        result: Any = None,
        exception: TApplicationException | None = None,
    ) -> bool:
        try:
            if exception is not None:
                processor.send_exception(protocol, api, exception, seqid)
            else:
                processor.send_result(protocol, api, result, seqid)
            return True
        except OSError as exc:
            log.debug("client %s went away while we replied: %s", self.peer, exc)
            return False
        except Exception:
            log.error("could not encode the %s reply for %s", clip(api), self.peer, exc_info=True)
        # The reply could not be encoded: discard its bytes and tell the client in Thrift's way.
        clean = getattr(protocol.trans, "clean", None)
        if clean is not None:
            clean()
        stream.discard()
        try:
            error = TApplicationException(
                TApplicationException.INTERNAL_ERROR, f"{api}: could not encode the reply"
            )
            protocol.write_message_begin(api, TMessageType.EXCEPTION, seqid)
            error.write(protocol)
            protocol.write_message_end()
            protocol.trans.flush()
            return True
        except Exception:
            return False
