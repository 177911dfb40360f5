// The course's script (course/sphinx.py adds it to every page).
// A display formula wider than the column scrolls sideways inside itself (course.css); make it
// focusable, so that a keyboard can scroll it too, and say what it is.
(function () {
  function markScrollingFormulas() {
    var wide = 0;
    document.querySelectorAll('.bd-article mjx-container[display="true"]').forEach(function (formula) {
      if (formula.scrollWidth > formula.clientWidth + 1) {
        wide += 1;   // regions need names of their own
        formula.setAttribute("tabindex", "0");
        formula.setAttribute("role", "region");
        formula.setAttribute("aria-label", "wide formula " + wide + ", scrolls sideways");
        formula.dataset.courseWide = "1";
      } else if (formula.dataset.courseWide) {
        delete formula.dataset.courseWide;
        formula.removeAttribute("tabindex");
        formula.removeAttribute("role");
        formula.removeAttribute("aria-label");
      }
    });
  }
  function whenTypeset() {
    if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
      MathJax.startup.promise.then(markScrollingFormulas);
    }
  }
  window.addEventListener("load", whenTypeset);
  window.addEventListener("resize", markScrollingFormulas);
})();
