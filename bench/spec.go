package bench

import (
	"errors"
	"fmt"
	"math"
)

// Spec describes a workload tree. Text files (PHP, JS, CSS, JSON-like code
// that zstd compresses about 4x) go under TextDir in a deep directory tree;
// large random files go under BinaryDir, the way a Nextcloud webroot and its
// data directory look.
type Spec struct {
	Name string
	// TextFiles is the number of text files, LargeText of them included.
	TextFiles int
	// TextDirs is the number of directories under TextDir, TextDir itself
	// included.
	TextDirs int
	// TextMedian and TextSigma give the log-normal size of ordinary text
	// files (bytes; sigma of the natural log), clamped to [TextMin, TextMax].
	TextMedian int
	TextSigma  float64
	TextMin    int
	TextMax    int
	// LargeText files are log-uniform in [LargeTextMin, TextMax].
	LargeText    int
	LargeTextMin int
	// BinaryFiles random (incompressible) files of BinarySize bytes each.
	BinaryFiles int
	BinarySize  int64
}

// Subdirectories of a generated tree.
const (
	TextDir   = "webroot"
	BinaryDir = "data"
)

// Mix1GiB is the main workload, about 1 GiB: 20,000 text files in 2,000
// directories (median 4 KiB, 300 of them 64 KiB–1 MiB; ~210 MiB in all)
// plus 6 random files of 128 MiB.
var Mix1GiB = Spec{
	Name:      "mix1g",
	TextFiles: 20000, TextDirs: 2000,
	TextMedian: 4 << 10, TextSigma: 0.8, TextMin: 64, TextMax: 1 << 20,
	LargeText: 300, LargeTextMin: 64 << 10,
	BinaryFiles: 6, BinarySize: 128 << 20,
}

// Quick is a ~50 MiB version of Mix1GiB for CI: 2,000 text files in 200
// directories plus 2 random files of 16 MiB.
var Quick = Spec{
	Name:      "quick",
	TextFiles: 2000, TextDirs: 200,
	TextMedian: 4 << 10, TextSigma: 0.8, TextMin: 64, TextMax: 1 << 20,
	LargeText: 20, LargeTextMin: 64 << 10,
	BinaryFiles: 2, BinarySize: 16 << 20,
}

// Tiny is a few MB, for tests of the harness itself.
var Tiny = Spec{
	Name:      "tiny",
	TextFiles: 300, TextDirs: 30,
	TextMedian: 4 << 10, TextSigma: 0.8, TextMin: 64, TextMax: 256 << 10,
	LargeText: 3, LargeTextMin: 64 << 10,
	BinaryFiles: 1, BinarySize: 2 << 20,
}

// Idle100k is the idle scenario's tree: 100,000 tiny files (100–500 bytes)
// in 5,000 directories, where a daemon's per-file cost at rest shows.
var Idle100k = Spec{
	Name:      "idle100k",
	TextFiles: 100000, TextDirs: 5000,
	TextMedian: 250, TextSigma: 0.35, TextMin: 100, TextMax: 500,
}

// IdleQuick is Idle100k scaled down for CI: 10,000 files in 500
// directories.
var IdleQuick = Spec{
	Name:      "idle10k",
	TextFiles: 10000, TextDirs: 500,
	TextMedian: 250, TextSigma: 0.35, TextMin: 100, TextMax: 500,
}

// TextOnly returns s without its binary files.
func (s Spec) TextOnly() Spec {
	s.Name += "-text"
	s.BinaryFiles, s.BinarySize = 0, 0
	return s
}

// Validate reports a spec the generator cannot build.
func (s Spec) Validate() error {
	var errs []error
	check := func(ok bool, what string) {
		if !ok {
			errs = append(errs, errors.New(what))
		}
	}
	check(s.Name != "", "name is empty")
	check(s.TextFiles >= 0 && s.LargeText >= 0 && s.LargeText <= s.TextFiles, "need 0 ≤ LargeText ≤ TextFiles")
	check(s.TextDirs >= 1 || s.TextFiles == 0, "TextDirs must be ≥ 1 when there are text files")
	check(s.TextMin >= 1 && s.TextMin <= s.TextMedian && s.TextMedian <= s.TextMax, "need 1 ≤ TextMin ≤ TextMedian ≤ TextMax")
	check(s.TextSigma >= 0 && !math.IsNaN(s.TextSigma), "TextSigma must be ≥ 0")
	check(s.LargeText == 0 || (s.LargeTextMin >= s.TextMin && s.LargeTextMin <= s.TextMax), "need TextMin ≤ LargeTextMin ≤ TextMax")
	check(s.BinaryFiles >= 0 && s.BinarySize >= 0, "binary count and size must be ≥ 0")
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("spec %q: %w", s.Name, err)
	}
	return nil
}

// ApproxBytes is the expected total size of a tree generated from s.
func (s Spec) ApproxBytes() int64 {
	small := float64(s.TextFiles-s.LargeText) * float64(s.TextMedian) * math.Exp(s.TextSigma*s.TextSigma/2)
	var large float64
	if s.LargeText > 0 && s.TextMax > s.LargeTextMin {
		lo, hi := float64(s.LargeTextMin), float64(s.TextMax)
		large = float64(s.LargeText) * (hi - lo) / math.Log(hi/lo)
	}
	return int64(small+large) + int64(s.BinaryFiles)*s.BinarySize
}
