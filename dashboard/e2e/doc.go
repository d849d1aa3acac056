// Package e2e tests durable's dashboard in a real browser: Debian's
// Chromium, headless, driven by chromedp over the DevTools protocol. It is
// a module of its own so that chromedp is not a dependency of durable.
//
//	cd dashboard/e2e && go test ./...
//
// The test needs Chromium (apt-get install -y chromium; DURABLE_CHROMIUM
// names another binary) and skips without it unless CI is set. It runs on
// SQLite, and on PostgreSQL when DURABLE_TEST_POSTGRES_URL is set. The
// screenshots of every page go to out/<store>/ (DURABLE_E2E_OUT names
// another folder).
package e2e
