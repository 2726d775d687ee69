/* labkit course site: draw the notebooks' plotly figures with the bundled plotly.js
   (docs/_ext/execute_notebooks.py turns each figure into labkitPlot(id, [data, layout, config])). */
function labkitPlot(id, args) {
  const draw = () => {
    const el = document.getElementById(id);
    if (!el || !window.Plotly) return;
    const [data, layout, config] = args;
    // the notebook's fixed width would overflow the page: let the figure follow its column
    const fitted = Object.assign({}, layout, {autosize: true});
    delete fitted.width;
    window.Plotly.newPlot(el, data, fitted, config);
  };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", draw);
  else draw();
}
