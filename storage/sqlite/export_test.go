package sqlite

import (
	"context"

	"github.com/durable-go/durable/storage"
)

// DriverName is the database/sql driver of this build, for tests that open
// the file directly.
const DriverName = driverName

// ClaimRead reads the candidates of a claim without claiming them, and
// returns how many it read.
func (s *Store) ClaimRead(ctx context.Context, p storage.ClaimParams) (int, error) {
	c, err := s.claimCandidates(ctx, p)
	return len(c), err
}
