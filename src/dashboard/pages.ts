/*
 * The three pages /dashboard can be: fixed text, nothing from a request or the database in them (what varies
 * arrives as JSON to the scripts), so there is nothing to escape. Scripts are files: the CSP allows no inline one.
 */
const page = (title: string, body: string, script?: string) => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="/dashboard/assets/uplot.css">
<link rel="stylesheet" href="/dashboard/assets/dashboard.css">
${script ?? ''}
</head>
<body>
${body}
</body>
</html>
`

/** ADMIN_TOKEN unset: nobody can log in, so the page says how to turn it on. */
export const setupPage = page(
  'deckhand dashboard: off',
  `<main class="narrow" id="setup">
<h1>deckhand dashboard</h1>
<p>The dashboard is off because <code>ADMIN_TOKEN</code> is not set.</p>
<p>Set it to a secret of 16 characters or more in the service's environment and restart, for example:</p>
<pre>ADMIN_TOKEN="$(openssl rand -base64 24)" npm start</pre>
<p>Then open this page again and log in with that token. It also opens the admin API (<code>/admin/jobs</code>).</p>
</main>`,
)

export const loginPage = page(
  'deckhand dashboard: log in',
  `<main class="narrow">
<h1>deckhand dashboard</h1>
<form id="login" autocomplete="off">
<label for="token">Admin token (<code>ADMIN_TOKEN</code>)</label>
<input id="token" name="token" type="password" required autofocus>
<button type="submit">Log in</button>
<p id="login-error" role="alert" hidden></p>
</form>
</main>`,
  '<script src="/dashboard/assets/login.js" defer></script>',
)

export const dashboardPage = page(
  'deckhand dashboard',
  `<header>
<h1>deckhand</h1>
<span id="status">connecting…</span>
<form id="logout"><button type="submit">Log out</button></form>
</header>
<p id="scope"></p>
<p id="workers" hidden></p>
<section id="charts"></section>
<section id="jobs">
<h2>Jobs</h2>
<form id="job-filter">
<label>Status <select id="filter-status">
<option value="">all</option><option>queued</option><option>running</option><option>succeeded</option><option>failed</option><option>cancelled</option>
</select></label>
<label>Kind <select id="filter-kind"><option value="">all</option></select></label>
</form>
<table id="job-table">
<thead><tr><th>Created</th><th>Kind</th><th>Status</th><th>Attempts</th><th>Owner id</th><th>Error</th><th>Job id</th></tr></thead>
<tbody></tbody>
</table>
<aside id="job-detail" hidden>
<h3>Job <code id="detail-id"></code></h3>
<dl id="detail-fields"></dl>
<button id="retry" type="button" hidden>Retry</button>
<button id="detail-close" type="button">Close</button>
<p id="detail-message" role="status"></p>
</aside>
</section>`,
  '<script src="/dashboard/assets/uplot.js" defer></script>\n<script src="/dashboard/assets/dashboard.js" defer></script>',
)
