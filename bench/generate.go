package bench

import (
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
)

// generatorVersion changes whenever the same spec and seed would give a
// different tree: a cached tree of another version is regenerated.
const generatorVersion = 2

// Manifest lists what GenerateTree wrote.
type Manifest struct {
	Spec    string   `json:"spec"`
	Seed    uint64   `json:"seed"`
	Version int      `json:"generator_version"`
	Dirs    int      `json:"dirs"` // directories below the root
	DirList []string `json:"dir_list"`
	Files   []File   `json:"files"`
}

// File is one generated file.
type File struct {
	Path string      `json:"path"` // slash-separated, relative to the root
	Size int64       `json:"size"`
	Mode fs.FileMode `json:"mode"`
	Text bool        `json:"text,omitempty"`
	// Kind is what the file stands for: KindCode (the webroot's text),
	// KindPhoto, KindVideo, KindDoc, KindNote, or KindBlob (the random
	// files of BinaryFiles).
	Kind string `json:"kind"`
}

// Kinds of generated files.
const (
	KindCode  = "code"
	KindPhoto = "photo"
	KindVideo = "video"
	KindDoc   = "doc"
	KindNote  = "note"
	KindBlob  = "blob"
)

// Under counts the files, directories and bytes below prefix (a
// slash-separated directory relative to the root; "" for everything).
func (m Manifest) Under(prefix string) (files, dirs int, bytes int64) {
	in := func(p string) bool { return prefix == "" || strings.HasPrefix(p, prefix+"/") }
	for _, f := range m.Files {
		if in(f.Path) {
			files++
			bytes += f.Size
		}
	}
	for _, d := range m.DirList {
		if in(d) {
			dirs++
		}
	}
	return files, dirs, bytes
}

// Bytes returns the total size of the text and of the binary files.
func (m Manifest) Bytes() (text, binary int64) {
	for _, f := range m.Files {
		if f.Text {
			text += f.Size
		} else {
			binary += f.Size
		}
	}
	return text, binary
}

// TextFiles returns how many of the files are text.
func (m Manifest) TextFiles() int {
	n := 0
	for _, f := range m.Files {
		if f.Text {
			n++
		}
	}
	return n
}

// epoch is the start of the window generated mtimes fall in.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// dirPlan is one directory to create.
type dirPlan struct {
	path  string // relative, slash-separated
	mode  fs.FileMode
	mtime time.Time
}

// filePlan is one file to write.
type filePlan struct {
	File
	lang  lang
	mtime time.Time
}

// docTextShare is the compressible share of an office document (its XML
// or text stream); the rest is random, like deflated zip members.
const docTextShare = 0.3

// GenerateTree fills dir (created if missing; it should be empty) with a tree
// built from spec. The same spec and seed give the same tree, content,
// modes and mtimes (nanoseconds) included, on any machine; see TreeHash.
func GenerateTree(dir string, spec Spec, seed uint64) (Manifest, error) {
	if err := spec.Validate(); err != nil {
		return Manifest{}, err
	}
	dirs, files := plan(spec, seed)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Manifest{}, fmt.Errorf("create %q: %w", dir, err)
	}
	for _, d := range dirs {
		p := filepath.Join(dir, filepath.FromSlash(d.path))
		if err := os.Mkdir(p, d.mode); err != nil {
			return Manifest{}, fmt.Errorf("create %q: %w", p, err)
		}
		if err := os.Chmod(p, d.mode); err != nil { // past the umask
			return Manifest{}, fmt.Errorf("chmod %q: %w", p, err)
		}
	}
	g, ctx := errgroup.WithContext(context.Background())
	workers := 4 // file creation is syscall-bound: overlap the waits
	next := make(chan int)
	g.Go(func() error {
		defer close(next)
		for i := range files {
			select {
			case next <- i:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		return nil
	})
	for range workers {
		g.Go(func() error {
			var buf []byte
			for i := range next {
				var err error
				if buf, err = writeFile(dir, files[i], fileRand(seed, i), buf); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return Manifest{}, err
	}
	// Directory mtimes last: creating the entries inside changed them.
	for i := len(dirs) - 1; i >= 0; i-- {
		p := filepath.Join(dir, filepath.FromSlash(dirs[i].path))
		if err := os.Chtimes(p, dirs[i].mtime, dirs[i].mtime); err != nil {
			return Manifest{}, fmt.Errorf("set mtime %q: %w", p, err)
		}
	}
	m := Manifest{Spec: spec.Name, Seed: seed, Version: generatorVersion, Dirs: len(dirs), Files: make([]File, len(files))}
	for _, d := range dirs {
		m.DirList = append(m.DirList, d.path)
	}
	for i, f := range files {
		m.Files[i] = f.File
	}
	return m, nil
}

// writeFile writes one planned file, reusing buf.
func writeFile(root string, f filePlan, r *rand.Rand, buf []byte) ([]byte, error) {
	p := filepath.Join(root, filepath.FromSlash(f.Path))
	out, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, f.Mode)
	if err != nil {
		return buf, fmt.Errorf("create %q: %w", p, err)
	}
	switch f.Kind {
	case KindCode, KindNote:
		buf = appendText(buf[:0], f.lang, int(f.Size), r)
		_, err = out.Write(buf)
	case KindDoc:
		text := int64(float64(f.Size) * docTextShare)
		buf = appendText(buf[:0], langJSON, int(text), r)
		if _, err = out.Write(buf); err == nil {
			err = writeRandom(out, f.Size-text, r, &buf)
		}
	default:
		err = writeRandom(out, f.Size, r, &buf)
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && f.Mode&processUmask() != 0 {
		err = os.Chmod(p, f.Mode)
	}
	if err == nil {
		err = os.Chtimes(p, f.mtime, f.mtime)
	}
	if err != nil {
		return buf, fmt.Errorf("write %q: %w", p, err)
	}
	return buf, nil
}

// writeRandom writes n incompressible bytes from a ChaCha8 stream seeded by r.
func writeRandom(out *os.File, n int64, r *rand.Rand, buf *[]byte) error {
	var key [32]byte
	for i := 0; i < 32; i += 8 {
		binary.LittleEndian.PutUint64(key[i:], r.Uint64())
	}
	cc := rand.NewChaCha8(key)
	if cap(*buf) < 1<<20 {
		*buf = make([]byte, 1<<20)
	}
	b := (*buf)[:1<<20]
	for n > 0 {
		k := int(min(n, int64(len(b))))
		_, _ = cc.Read(b[:k]) // never fails
		if _, err := out.Write(b[:k]); err != nil {
			return err
		}
		n -= int64(k)
	}
	return nil
}

// processUmask reads the umask from /proc (changing it to read it would race
// with other goroutines); all bits when unknown, so callers chmod.
var processUmask = sync.OnceValue(func() fs.FileMode {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0o777
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "Umask:"); ok {
			if u, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32); err == nil {
				return fs.FileMode(u)
			}
		}
	}
	return 0o777
})

// fileRand is the content source of file i: independent of the order the
// workers write files in.
func fileRand(seed uint64, i int) *rand.Rand {
	return rand.New(rand.NewPCG(seed^0x9e3779b97f4a7c15, uint64(i)))
}

// Common directory names of a PHP web application, mixed with made-up ones.
var dirWords = []string{"lib", "src", "js", "css", "img", "l10n", "appinfo", "templates",
	"tests", "vendor", "composer", "Controller", "Service", "Db", "Migration", "3rdparty",
	"apps", "core", "Command", "Listener", "Middleware", "Settings", "Model", "dist", "fonts"}

// plan lays out the tree: everything random is drawn here from one stream
// in a fixed order, so the layout depends on spec and seed only.
func plan(spec Spec, seed uint64) ([]dirPlan, []filePlan) {
	r := rand.New(rand.NewPCG(seed, 0x6e63))
	when := func() time.Time {
		return epoch.Add(time.Duration(r.Int64N(int64(365 * 24 * time.Hour))))
	}
	var dirs []dirPlan
	names := map[string]bool{} // taken relative paths
	unique := func(parent, name string) string {
		p := parent + "/" + name
		for i := 2; names[p]; i++ {
			p = parent + "/" + name + "-" + strconv.Itoa(i)
		}
		names[p] = true
		return p
	}
	dirMode := func() fs.FileMode {
		if r.IntN(20) == 0 {
			return 0o750
		}
		return 0o755
	}
	var textDirs []string
	if spec.TextFiles > 0 {
		names[TextDir] = true
		dirs = append(dirs, dirPlan{path: TextDir, mode: 0o755, mtime: when()})
		textDirs = append(textDirs, TextDir)
		depth := map[string]int{TextDir: 0}
		for len(textDirs) < spec.TextDirs {
			// Prefer recent directories as parents: deep trees, like vendor/.
			var parent string
			if r.IntN(2) == 0 {
				parent = textDirs[r.IntN(len(textDirs))]
			} else {
				lo := max(0, len(textDirs)-20)
				parent = textDirs[lo+r.IntN(len(textDirs)-lo)]
			}
			if depth[parent] >= 12 {
				parent = TextDir
			}
			var name string
			if r.IntN(3) == 0 {
				name = dirWords[r.IntN(len(dirWords))]
			} else {
				name = identifier(r, langCSS)
			}
			p := unique(parent, name)
			depth[p] = depth[parent] + 1
			textDirs = append(textDirs, p)
			dirs = append(dirs, dirPlan{path: p, mode: dirMode(), mtime: when()})
		}
	}
	var files []filePlan
	for i := range spec.TextFiles {
		l := pickLang(r)
		var size int
		if i < spec.LargeText {
			lo, hi := math.Log(float64(spec.LargeTextMin)), math.Log(float64(spec.TextMax))
			size = int(math.Exp(lo + r.Float64()*(hi-lo)))
		} else {
			size = int(float64(spec.TextMedian) * math.Exp(spec.TextSigma*r.NormFloat64()))
		}
		size = min(max(size, spec.TextMin), spec.TextMax)
		mode := fs.FileMode(0o644)
		switch r.IntN(50) {
		case 0:
			mode = 0o755
		case 1, 2:
			mode = 0o640
		}
		p := unique(textDirs[r.IntN(len(textDirs))], identifier(r, langCSS)+langExt[l])
		files = append(files, filePlan{File: File{Path: p, Size: int64(size), Mode: mode, Text: true, Kind: KindCode}, lang: l, mtime: when()})
	}
	if spec.BinaryFiles > 0 {
		for _, p := range []string{BinaryDir, BinaryDir + "/alice", BinaryDir + "/alice/files", BinaryDir + "/alice/files/Media"} {
			names[p] = true
			dirs = append(dirs, dirPlan{path: p, mode: 0o750, mtime: when()})
		}
		for i := range spec.BinaryFiles {
			p := fmt.Sprintf("%s/alice/files/Media/clip-%02d.mp4", BinaryDir, i+1)
			files = append(files, filePlan{File: File{Path: p, Size: spec.BinarySize, Mode: 0o640, Kind: KindBlob}, mtime: when()})
		}
	}
	dirs, files = planData(spec.Data, r, when, names, dirs, files)
	return dirs, files
}

// pickLang draws a file's language: mostly PHP and JS, as in a webroot.
func pickLang(r *rand.Rand) lang {
	switch k := r.IntN(100); {
	case k < 45:
		return langPHP
	case k < 75:
		return langJS
	case k < 85:
		return langCSS
	default:
		return langJSON
	}
}
