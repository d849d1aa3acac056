// Package crashtest holds the crash tests: real processes running executors
// on real databases are killed with SIGKILL and restarted, and the tests
// check that nothing acknowledged is lost and that the databases stay
// intact. The package has no code of its own; everything is in its tests.
package crashtest
