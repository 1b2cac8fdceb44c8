"""One client connection: optional TLS, the SASL handshake (bounded by the login timeout), then
Thrift requests until the client leaves. Idle connections are never cut.

Anything wrong with the bytes a client sends (bad frames, oversized messages, a broken
handshake) ends that connection only. Unknown methods get Thrift's standard
``TApplicationException(UNKNOWN_METHOD)`` and the connection stays open.
"""

from __future__ import annotations

import logging
import socket
import ssl
from typing import Any

# thriftpy2 binds these names to its C-accelerated classes (cybin) whenever they are available,
# and to the pure-Python ones otherwise.
from thriftpy2.protocol import TBinaryProtocol
from thriftpy2.thrift import TApplicationException, TMessageType, TProcessor
from thriftpy2.transport import TBufferedTransport, TTransportException

from engine.backend import BackendService
from engine.common.errors import AuthenticationError
from engine.frontend import sasl
from engine.frontend.handler import ThriftHandler
from engine.frontend.idl import TCLI
from engine.frontend.stream import SocketStream

log = logging.getLogger(__name__)

BUFFER_SIZE = 256 * 1024
ACCELERATED = "cybin" in TBinaryProtocol.__module__


class Connection:
    def __init__(
        self,
        sock: socket.socket,
        peer: str,
        backend: BackendService,
        *,
        authenticator: sasl.Authenticator | None,  # None: NOSASL
        login_timeout: float,
        max_message_size: int,
        ssl_context: ssl.SSLContext | None = None,
        close_sessions_on_disconnect: bool = True,
    ) -> None:
        self.sock = sock
        self.peer = peer
        self.backend = backend
        self.authenticator = authenticator
        self.login_timeout = login_timeout
        self.max_message_size = max_message_size
        self.ssl_context = ssl_context
        self.close_sessions_on_disconnect = close_sessions_on_disconnect
        self.handler: ThriftHandler | None = None
        self.requests = 0

    def shutdown(self) -> None:
        """Unblock a pending read (server stop); the serving thread then cleans up."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def serve(self) -> None:
        try:
            user = self._login()
            if user is False:
                return
            self.handler = ThriftHandler(self.backend, user if isinstance(user, str) else None, self.peer)
            self._loop(self.handler)
        finally:
            if self.handler is not None and self.close_sessions_on_disconnect:
                self.handler.close_sessions()
            try:
                self.sock.close()
            except OSError:
                pass

    # --- login ------------------------------------------------------------------------------
    def _login(self) -> str | bool | None:
        """The SASL user, None for NOSASL, or False when the connection must close."""
        self.sock.settimeout(self.login_timeout)
        try:
            if self.ssl_context is not None:
                self.sock = self.ssl_context.wrap_socket(self.sock, server_side=True)
            user = None
            if self.authenticator is not None:
                user = sasl.negotiate(self.sock, self.authenticator)
                log.info("SASL PLAIN login of %s from %s", user, self.peer)
        except (sasl.SaslError, AuthenticationError) as exc:
            log.warning("connection from %s refused: %s", self.peer, exc)
            return False
        except TimeoutError:
            log.warning(
                "connection from %s did not finish its handshake within %.1f s", self.peer, self.login_timeout
            )
            return False
        except (OSError, ssl.SSLError) as exc:
            log.info("connection from %s failed during login: %s", self.peer, exc)
            return False
        self.sock.settimeout(None)  # never cut an idle, logged-in connection
        return user

    # --- requests ---------------------------------------------------------------------------
    def _loop(self, handler: ThriftHandler) -> None:
        stream = SocketStream(
            self.sock, framed=self.authenticator is not None, max_message_size=self.max_message_size
        )
        transport = TBufferedTransport(stream, BUFFER_SIZE)
        protocol = TBinaryProtocol(transport, strict_read=True, decode_response=True)
        processor = TProcessor(TCLI.TCLIService, handler)
        while True:
            stream.begin_message()
            try:
                api, seqid, result, call = processor.process_in(protocol)
            except TTransportException as exc:
                if exc.type == TTransportException.END_OF_FILE:
                    log.debug("client %s disconnected after %d requests", self.peer, self.requests)
                else:
                    log.warning("closing connection from %s: %s", self.peer, exc.message or exc)
                return
            except OSError as exc:
                log.debug("connection from %s ended: %s", self.peer, exc)
                return
            except Exception as exc:  # malformed Thrift: we cannot know where the next message starts
                log.warning(
                    "closing connection from %s: malformed request (%s: %s)",
                    self.peer,
                    type(exc).__name__,
                    exc,
                )
                return
            self.requests += 1
            if isinstance(result, TApplicationException):
                log.info("client %s called unknown method %s", self.peer, api)
                if not self._send(processor, protocol, stream, api, seqid, exception=result):
                    return
                continue
            assert call is not None
            result.success = call()  # the handler's decorator turns every failure into a TStatus
            if not self._send(processor, protocol, stream, api, seqid, result=result):
                return

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
            log.error("could not encode the %s reply for %s", api, self.peer, exc_info=True)
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
