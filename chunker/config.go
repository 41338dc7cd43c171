package chunker

import (
	"errors"
	"fmt"
	"math/bits"
)

// MaxLimit is the largest chunk size a Config may ask for. It bounds the
// Chunker's buffer (about 2*Max) and keeps single chunks cheap to ship.
const MaxLimit = 16 << 20

// MinLimit is the smallest Min a Config may ask for. Below it the gear hash
// window (up to 63 bytes) no longer fits in a chunk.
const MinLimit = 64

// ErrInvalidConfig is wrapped by every error returned from Config.Validate.
var ErrInvalidConfig = errors.New("invalid chunker config")

// Config sets the chunk size bounds in bytes. Chunks are at least Min bytes
// (except the last of a stream), at most Max, and average about Avg.
type Config struct {
	Min, Avg, Max int
}

// DefaultConfig returns the sizes ncsync uses: 16 KiB / 64 KiB / 256 KiB.
func DefaultConfig() Config {
	return Config{Min: 16 << 10, Avg: 64 << 10, Max: 256 << 10}
}

// Validate reports whether c can be used for chunking. The error names the
// offending field and wraps ErrInvalidConfig.
func (c Config) Validate() error {
	switch {
	case c.Min < MinLimit:
		return fmt.Errorf("%w: Min %d is below %d", ErrInvalidConfig, c.Min, MinLimit)
	case c.Avg <= c.Min:
		return fmt.Errorf("%w: Avg %d must be greater than Min %d", ErrInvalidConfig, c.Avg, c.Min)
	case bits.OnesCount(uint(c.Avg)) != 1:
		return fmt.Errorf("%w: Avg %d is not a power of two", ErrInvalidConfig, c.Avg)
	case c.Max <= c.Avg:
		return fmt.Errorf("%w: Max %d must be greater than Avg %d", ErrInvalidConfig, c.Max, c.Avg)
	case c.Max > MaxLimit:
		return fmt.Errorf("%w: Max %d exceeds %d", ErrInvalidConfig, c.Max, MaxLimit)
	}
	return nil
}
