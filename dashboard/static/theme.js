// Applies the theme chosen with the theme button before the page paints.
(function () {
  try {
    var t = localStorage.getItem("durable-theme");
    if (t === "dark" || t === "light") document.documentElement.dataset.theme = t;
  } catch (e) { /* storage disabled: follow the system's theme */ }
})();
