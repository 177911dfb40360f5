// The course's script (course/sphinx.py adds it to every page).
// A formula wider than the column scrolls sideways inside itself (course.css); make it
// focusable, so that a keyboard can scroll it too, and say what it is.
(function () {
  // An inline formula's scrollWidth counts its hidden MathML for screen readers: measure the
  // typeset formula itself.
  function width(formula) {
    var math = formula.matches("span.math") && formula.querySelector("mjx-math");
    return math ? math.getBoundingClientRect().width : formula.scrollWidth;
  }
  function markScrollingFormulas() {
    var wide = 0;
    var formulas = '.bd-article mjx-container[display="true"], .bd-article span.math';
    document.querySelectorAll(formulas).forEach(function (formula) {
      if (width(formula) > formula.clientWidth + 1) {
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
  // A formula in a closed solution has no width until the reader opens it.
  document.addEventListener("click", function () { setTimeout(markScrollingFormulas, 0); });
})();
