const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);

/** The dashboard's login form: one password field for ADMIN_TOKEN. No script, so a strict CSP holds. */
export function loginPage({ next, error }: { next: string; error?: string }): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>vouchflow admin: sign in</title>
<style>
  body { font-family: system-ui, sans-serif; background: #f4f5f7; display: grid; place-items: center; min-height: 100vh; margin: 0; }
  form { background: #fff; padding: 2rem; border-radius: 8px; box-shadow: 0 1px 4px rgba(0,0,0,.15); width: 22rem; }
  h1 { font-size: 1.2rem; margin: 0 0 1rem; }
  label { display: block; margin-bottom: .4rem; }
  input[type=password] { width: 100%; box-sizing: border-box; padding: .5rem; font: inherit; }
  button { margin-top: 1rem; padding: .5rem 1rem; font: inherit; }
  p.error { color: #b00020; }
  p.hint { color: #555; font-size: .85rem; }
</style>
</head>
<body>
<form method="post" action="login">
  <h1>vouchflow admin</h1>
  ${error ? `<p class="error" role="alert">${escapeHtml(error)}</p>` : ''}
  <label for="token">Admin token</label>
  <input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
  <input type="hidden" name="next" value="${escapeHtml(next)}">
  <button type="submit">Sign in</button>
  <p class="hint">The value of ADMIN_TOKEN. Signing in sets a session cookie for this site only.</p>
</form>
</body>
</html>
`;
}
