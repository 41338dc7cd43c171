package preserve

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ncsync/ncsync/internal/relpath"
)

// Kind is what a record keeps.
type Kind string

// The kinds. A directory is recorded (path, mode, owner, mtime) without
// content: its children are records of their own.
const (
	KindFile    Kind = "file"
	KindDir     Kind = "dir"
	KindSymlink Kind = "symlink"
)

// Cause says what made ncsync replace the version; free text goes in Reason.
type Cause string

// The causes ncsync uses.
const (
	// CauseLocalChange: a secondary found the path changed (or created)
	// locally, not by ncsync, before applying the primary's change.
	CauseLocalChange Cause = "local-change"
	// CauseRejoin: an old primary rejoining as a secondary held a version
	// written after the divergence point, and the new primary's won.
	CauseRejoin Cause = "rejoin"
)

// Item describes the version being saved: whose it is and why it lost.
// The object's own metadata (kind, size, mode, owner, mtime, target) is
// read from the object itself.
type Item struct {
	Folder string // folder id
	Path   string // slash separated, relative to the folder root, clean
	Epoch  uint64 // the epoch the node was in when its version lost
	Node   string // the node that held this version
	Seq    uint64 // the version's journal sequence if known (rejoin), else 0
	Cause  Cause
	Reason string    // in words: what replaced it and why
	Time   time.Time // when; zero means now
}

// Record is one preserved version as listed and restored.
type Record struct {
	ID        ID
	Folder    string
	Path      string
	Kind      Kind
	Epoch     uint64
	Node      string
	Seq       uint64
	Cause     Cause
	Reason    string
	Preserved time.Time
	Size      int64  // files: bytes kept
	Mode      uint32 // permission bits with setuid, setgid, sticky (07777)
	UID, GID  uint32
	MtimeNs   int64
	Target    string   // symlinks
	Hash      [32]byte // files: BLAKE3-256 of the kept bytes
	// KeptAt is where the version is kept: the data file of a file, the
	// record directory otherwise. Set by the Store, not stored.
	KeptAt string
}

// HashHex is Hash in hex, "" for records without content.
func (r Record) HashHex() string {
	if r.Kind != KindFile {
		return ""
	}
	return hex.EncodeToString(r.Hash[:])
}

// Limits of the metadata decoder.
const (
	maxMetaSize   = 64 << 10
	maxPathLen    = 4095
	maxNameLen    = 255
	maxReasonLen  = 4096
	formatVersion = 1
)

// wireRecord is meta.json.
type wireRecord struct {
	Format    int    `json:"format"`
	ID        ID     `json:"id"`
	Folder    string `json:"folder"`
	Path      string `json:"path"`
	Kind      Kind   `json:"kind"`
	Epoch     uint64 `json:"epoch"`
	Node      string `json:"node"`
	Seq       uint64 `json:"seq,omitempty"`
	Cause     Cause  `json:"cause"`
	Reason    string `json:"reason,omitempty"`
	Preserved int64  `json:"preserved_unix_ns"`
	Size      int64  `json:"size"`
	Mode      uint32 `json:"mode"`
	UID       uint32 `json:"uid"`
	GID       uint32 `json:"gid"`
	MtimeNs   int64  `json:"mtime_ns"`
	Target    string `json:"target,omitempty"`
	BLAKE3    string `json:"blake3,omitempty"`
}

// EncodeRecord returns r as meta.json (KeptAt is not stored).
func EncodeRecord(r Record) ([]byte, error) {
	if err := r.validate(); err != nil {
		return nil, err
	}
	w := wireRecord{Format: formatVersion, ID: r.ID, Folder: r.Folder, Path: r.Path, Kind: r.Kind,
		Epoch: r.Epoch, Node: r.Node, Seq: r.Seq, Cause: r.Cause, Reason: r.Reason,
		Preserved: r.Preserved.UnixNano(), Size: r.Size, Mode: r.Mode, UID: r.UID, GID: r.GID,
		MtimeNs: r.MtimeNs, Target: r.Target, BLAKE3: r.HashHex()}
	b, err := json.MarshalIndent(w, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode record %s: %w", r.ID, err)
	}
	return append(b, '\n'), nil
}

// DecodeRecord parses and checks meta.json. Everything in it is checked as
// if it came from outside: a damaged or planted file is an error wrapping
// ErrCorrupt, never a path that escapes or an absurd size.
func DecodeRecord(data []byte) (Record, error) {
	if len(data) > maxMetaSize {
		return Record{}, fmt.Errorf("%w: metadata is %d bytes, limit %d", ErrCorrupt, len(data), maxMetaSize)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w wireRecord
	if err := dec.Decode(&w); err != nil {
		return Record{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if dec.More() {
		return Record{}, fmt.Errorf("%w: data after the record", ErrCorrupt)
	}
	if w.Format != formatVersion {
		return Record{}, fmt.Errorf("%w: format %d, want %d", ErrCorrupt, w.Format, formatVersion)
	}
	r := Record{ID: w.ID, Folder: w.Folder, Path: w.Path, Kind: w.Kind, Epoch: w.Epoch, Node: w.Node,
		Seq: w.Seq, Cause: w.Cause, Reason: w.Reason, Preserved: time.Unix(0, w.Preserved).UTC(),
		Size: w.Size, Mode: w.Mode, UID: w.UID, GID: w.GID, MtimeNs: w.MtimeNs, Target: w.Target}
	switch {
	case r.Kind == KindFile:
		h, err := hex.DecodeString(w.BLAKE3)
		if err != nil || len(h) != len(r.Hash) {
			return Record{}, fmt.Errorf("%w: blake3 %q is not 64 hex digits", ErrCorrupt, w.BLAKE3)
		}
		copy(r.Hash[:], h)
	case w.BLAKE3 != "":
		return Record{}, fmt.Errorf("%w: a %s record has a hash", ErrCorrupt, r.Kind)
	}
	if err := r.validate(); err != nil {
		return Record{}, err
	}
	return r, nil
}

// validate checks a record's fields; errors wrap ErrCorrupt.
func (r Record) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrCorrupt, fmt.Sprintf(format, args...))
	}
	if _, err := ParseID(string(r.ID)); err != nil {
		return bad("%v", err)
	}
	if err := checkPath(r.Path); err != nil {
		return bad("%v", err)
	}
	if err := checkName("folder", r.Folder); err != nil {
		return bad("%v", err)
	}
	if err := checkName("node", r.Node); err != nil {
		return bad("%v", err)
	}
	if err := checkName("cause", string(r.Cause)); err != nil {
		return bad("%v", err)
	}
	if len(r.Reason) > maxReasonLen || !utf8.ValidString(r.Reason) || strings.ContainsRune(r.Reason, 0) {
		return bad("reason is not valid text of at most %d bytes", maxReasonLen)
	}
	if r.Mode&^0o7777 != 0 {
		return bad("mode %o has bits beyond 07777", r.Mode)
	}
	switch r.Kind {
	case KindFile:
		if r.Size < 0 {
			return bad("negative size %d", r.Size)
		}
		if r.Target != "" {
			return bad("a file record has a symlink target")
		}
	case KindSymlink:
		if err := relpath.CheckTargetShape(r.Path, r.Target); err != nil {
			return bad("%v", err)
		}
		if r.Size != int64(len(r.Target)) {
			return bad("symlink size %d does not match its target", r.Size)
		}
	case KindDir:
		if r.Size != 0 || r.Target != "" {
			return bad("a directory record has a size or a target")
		}
	default:
		return bad("unknown kind %q", r.Kind)
	}
	return nil
}

// checkPath accepts a folder-relative path (relpath.Check). Local names
// reserved by ncsync are allowed: what a local user made is kept as it is.
func checkPath(p string) error { return relpath.Check(p) }

// checkName accepts a short printable identifier (folder id, node name,
// cause).
func checkName(what, s string) error {
	if s == "" || len(s) > maxNameLen || !utf8.ValidString(s) {
		return fmt.Errorf("%s %q: want 1 to %d bytes of UTF-8", what, s, maxNameLen)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return fmt.Errorf("%s %q: control character", what, s)
		}
	}
	return nil
}
