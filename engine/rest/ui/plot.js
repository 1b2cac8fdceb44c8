// Bar and line charts of a result table (chart.js, loaded the first time a chart is asked for).

let chartModule = null;

async function loadChart() {
  if (!chartModule) {
    chartModule = import("chart.js").then((mod) => {
      mod.Chart.register(
        mod.BarController,
        mod.LineController,
        mod.BarElement,
        mod.LineElement,
        mod.PointElement,
        mod.CategoryScale,
        mod.LinearScale,
        mod.Legend,
        mod.Tooltip,
      );
      return mod;
    });
  }
  return chartModule;
}

const PALETTE = ["#4f7cff", "#f28b30", "#2bb673", "#d64d8a", "#8a63d2", "#c9a227"];

/**
 * Draws `kind` ("bar" or "line") of `table` into `box`: the first non-numeric column gives the
 * labels (the row number when every column is numeric), each numeric column is a series.
 * Returns the Chart (call destroy() before drawing another).
 */
export async function drawChart(box, kind, table, numeric) {
  const { Chart } = await loadChart();
  box.replaceChildren();
  const canvas = document.createElement("canvas");
  canvas.setAttribute("role", "img");
  canvas.setAttribute("aria-label", `${kind} chart of the result`);
  box.append(canvas);
  const labelColumn = table.columns.findIndex((_, index) => !numeric.includes(index));
  const series = numeric.filter((index) => index !== labelColumn);
  const labels = table.rows.map((row, n) => (labelColumn >= 0 ? row[labelColumn] ?? "NULL" : String(n + 1)));
  const style = getComputedStyle(document.documentElement);
  const ink = style.getPropertyValue("--muted").trim() || "#888";
  return new Chart(canvas, {
    type: kind,
    data: {
      labels,
      datasets: series.map((index, n) => ({
        label: table.columns[index],
        data: table.rows.map((row) => (row[index] === null ? null : Number(row[index]))),
        backgroundColor: PALETTE[n % PALETTE.length],
        borderColor: PALETTE[n % PALETTE.length],
      })),
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      scales: { x: { ticks: { color: ink } }, y: { ticks: { color: ink } } },
      plugins: { legend: { labels: { color: ink } } },
    },
  });
}
