// Shows the Content-Encoding the Compress middleware chose for this page.
fetch(location.href, { cache: "no-store" }).then(function (response) {
  document.getElementById("encoding").textContent =
    response.headers.get("Content-Encoding") || "identity (the browser hides it, or too small)";
});
