// choosing a region reloads the form with the next level's list (the "Pilih" buttons do the same without JS)
document.querySelectorAll("select[data-autosubmit]").forEach(function (s) {
  s.addEventListener("change", function () { s.form.submit(); });
});
