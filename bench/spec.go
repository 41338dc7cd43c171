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
	// BinaryFiles random (incompressible) files of BinarySize bytes each,
	// under BinaryDir/alice/files/Media.
	BinaryFiles int
	BinarySize  int64

	// Data describes a Nextcloud data directory under BinaryDir.
	Data DataSpec
}

// DataSpec is the shape of a Nextcloud data directory: per user
// (BinaryDir/<user>/files) photos and videos (incompressible), office
// documents (zip-like: mostly incompressible, with a compressible part)
// and many tiny notes. Sizes are drawn log-uniform in [Min, Max]; counts
// are totals over all users.
type DataSpec struct {
	Users              int
	Photos             int
	PhotoMin, PhotoMax int64
	Videos             int
	VideoMin, VideoMax int64
	Docs               int
	DocMin, DocMax     int64
	Tiny               int
	TinyMin, TinyMax   int64
}

// files is how many files d describes.
func (d DataSpec) files() int { return d.Photos + d.Videos + d.Docs + d.Tiny }

// approxBytes is the expected total size of d's files.
func (d DataSpec) approxBytes() int64 {
	return int64(float64(d.Photos)*logUniformMean(d.PhotoMin, d.PhotoMax) +
		float64(d.Videos)*logUniformMean(d.VideoMin, d.VideoMax) +
		float64(d.Docs)*logUniformMean(d.DocMin, d.DocMax) +
		float64(d.Tiny)*logUniformMean(d.TinyMin, d.TinyMax))
}

func (d DataSpec) validate() error {
	if d.files() == 0 {
		return nil
	}
	var errs []error
	if d.Users < 1 {
		errs = append(errs, errors.New("Data.Users must be ≥ 1 when there are data files"))
	}
	for _, r := range []struct {
		what   string
		n      int
		lo, hi int64
	}{{"photo", d.Photos, d.PhotoMin, d.PhotoMax}, {"video", d.Videos, d.VideoMin, d.VideoMax},
		{"document", d.Docs, d.DocMin, d.DocMax}, {"tiny", d.Tiny, d.TinyMin, d.TinyMax}} {
		if r.n < 0 || (r.n > 0 && (r.lo < 1 || r.lo > r.hi)) {
			errs = append(errs, fmt.Errorf("need count ≥ 0 and 1 ≤ min ≤ max for %s files", r.what))
		}
	}
	return errors.Join(errs...)
}

// logUniformMean is the mean of a log-uniform distribution on [lo, hi].
func logUniformMean(lo, hi int64) float64 {
	if lo <= 0 || hi <= lo {
		return float64(lo)
	}
	return float64(hi-lo) / math.Log(float64(hi)/float64(lo))
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

// Webroot is a Nextcloud-like webroot: 20,000 PHP/JS/CSS/JSON-like text
// files in 2,000 directories up to 12 deep, log-normal sizes around 4 KiB
// (quartiles about 2.3 and 6.9 KiB), 60 of them 64 KiB–1 MiB; ~130 MiB.
var Webroot = Spec{
	Name:      "webroot",
	TextFiles: 20000, TextDirs: 2000,
	TextMedian: 4 << 10, TextSigma: 0.8, TextMin: 64, TextMax: 1 << 20,
	LargeText: 60, LargeTextMin: 64 << 10,
}

// WebrootQuick is Webroot scaled down for --quick: 2,000 files in 200
// directories, 6 of them large; ~13 MiB.
var WebrootQuick = Spec{
	Name:      "webroot-quick",
	TextFiles: 2000, TextDirs: 200,
	TextMedian: 4 << 10, TextSigma: 0.8, TextMin: 64, TextMax: 1 << 20,
	LargeText: 6, LargeTextMin: 64 << 10,
}

// Data is a Nextcloud-like data directory of 3 users: 60 photos of
// 1–8 MiB, 2 videos of 256 MiB–1 GiB, 150 office documents of 16 KiB–4 MiB,
// 3,000 notes of 50 B–2 KiB; ~1.2 GiB.
var Data = Spec{
	Name: "data",
	Data: DataSpec{Users: 3,
		Photos: 60, PhotoMin: 1 << 20, PhotoMax: 8 << 20,
		Videos: 2, VideoMin: 256 << 20, VideoMax: 1 << 30,
		Docs: 150, DocMin: 16 << 10, DocMax: 4 << 20,
		Tiny: 3000, TinyMin: 50, TinyMax: 2 << 10},
}

// DataQuick is Data scaled down for --quick: 2 users, 6 photos, one video
// of 16–32 MiB, 20 documents up to 1 MiB, 300 notes; ~50 MiB.
var DataQuick = Spec{
	Name: "data-quick",
	Data: DataSpec{Users: 2,
		Photos: 6, PhotoMin: 1 << 20, PhotoMax: 8 << 20,
		Videos: 1, VideoMin: 16 << 20, VideoMax: 32 << 20,
		Docs: 20, DocMin: 16 << 10, DocMax: 1 << 20,
		Tiny: 300, TinyMin: 50, TinyMax: 2 << 10},
}

// Nextcloud is the initial scenario's tree: Webroot under TextDir and Data
// under BinaryDir, ~1.3 GiB.
var Nextcloud = withData(Webroot, Data, "nextcloud")

// NextcloudQuick is Nextcloud scaled down for --quick: ~65 MiB.
var NextcloudQuick = withData(WebrootQuick, DataQuick, "nextcloud-quick")

// Suite is the tree the mutation scenarios start from: Webroot plus one
// incompressible 256 MiB file (the "large file" of bigedit and insert).
var Suite = withBig(Webroot, "suite", 256<<20)

// SuiteQuick is Suite scaled down for --quick: WebrootQuick plus a
// 32 MiB file.
var SuiteQuick = withBig(WebrootQuick, "suite-quick", 32<<20)

func withData(web, data Spec, name string) Spec {
	web.Name, web.Data = name, data.Data
	return web
}

func withBig(web Spec, name string, size int64) Spec {
	web.Name, web.BinaryFiles, web.BinarySize = name, 1, size
	return web
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
	s.Data = DataSpec{}
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
	check(s.TextFiles == 0 || (s.TextMin >= 1 && s.TextMin <= s.TextMedian && s.TextMedian <= s.TextMax), "need 1 ≤ TextMin ≤ TextMedian ≤ TextMax")
	check(s.TextSigma >= 0 && !math.IsNaN(s.TextSigma), "TextSigma must be ≥ 0")
	check(s.LargeText == 0 || (s.LargeTextMin >= s.TextMin && s.LargeTextMin <= s.TextMax), "need TextMin ≤ LargeTextMin ≤ TextMax")
	check(s.BinaryFiles >= 0 && s.BinarySize >= 0, "binary count and size must be ≥ 0")
	if err := s.Data.validate(); err != nil {
		errs = append(errs, err)
	}
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
	return int64(small+large) + int64(s.BinaryFiles)*s.BinarySize + s.Data.approxBytes()
}
