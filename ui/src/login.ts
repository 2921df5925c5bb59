// The login page's script: a token in the URL's fragment (`lxt ui` prints
// /ui/login#token=T; a fragment never reaches a server or a log) is posted
// at once, and dropped from the address bar and history first.
const form = document.getElementById("login") as HTMLFormElement;
const input = document.getElementById("token") as HTMLInputElement;
if (new URLSearchParams(location.search).has("failed")) {
  (document.getElementById("failed") as HTMLElement).hidden = false;
}
const token = new URLSearchParams(location.hash.slice(1)).get("token");
if (token) {
  history.replaceState(null, "", location.pathname);
  input.value = token;
  form.submit();
} else {
  input.focus();
}
