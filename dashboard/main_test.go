package dashboard

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: Close
// must stop the live feed and end the open streams.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
