package core

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/epcflow/epcflow/internal/atomicfile"
)

// StateFile keeps a sandbox's state in a JSON file and its files' bytes in a media directory
// beside it (path+".media", one file per id, written once, named in the JSON). Every write is
// atomic (temp file, fsync, rename) and 0600: the state holds secrets.
type StateFile struct {
	path     string
	mediaDir string
	version  int
	log      *slog.Logger
	changes  func() uint64
	snapshot SnapshotFunc

	mu      sync.Mutex      // serializes saves; guards the fields below
	written map[string]bool // media ids whose bytes are on disk
	saved   uint64          // changes() as of the last successful save
	failing bool            // the last save failed (logged once until one works again)
	onSave  func(changes uint64, err error)

	stop context.CancelFunc
	done chan struct{}
}

// SnapshotFunc returns the state to save (encoded as JSON) and the files whose bytes are not
// on disk yet (written says which are).
type SnapshotFunc func(written func(id string) bool) (any, []MediaFile, error)

// MediaFile is a file's bytes to write to the media directory.
type MediaFile struct {
	ID   string
	Data []byte
}

// NewStateFile prepares the state file at path, in format version; changes counts state
// changes (a save happens only when it moved); snapshot captures the state.
func NewStateFile(path string, version int, log *slog.Logger, changes func() uint64, snapshot SnapshotFunc) *StateFile {
	return &StateFile{
		path: path, mediaDir: path + ".media", version: version, log: log,
		changes: changes, snapshot: snapshot, written: map[string]bool{},
	}
}

// Load reads the state file, if there is one, checks its format version and hands its bytes
// to restore, which reads the files it names with ReadMedia. Then media files the state does
// not name are removed: bytes written just before a crash, ahead of the JSON that would have
// named them, and temp files. It reports whether there was a file.
func (p *StateFile) Load(restore func(data []byte) error) (bool, error) {
	data, err := os.ReadFile(p.path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sandbox: read state file: %w", err)
	}
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return true, p.corrupt(err)
	}
	switch {
	case head.Version == nil:
		return true, p.corrupt(errors.New("no version"))
	case *head.Version != p.version:
		return true, fmt.Errorf("sandbox: state file %s has format version %d, this build reads version %d only (move it aside to start with an empty sandbox)",
			p.path, *head.Version, p.version)
	}
	if err := restore(data); err != nil {
		return true, p.corrupt(err)
	}
	p.removeStrayMedia()
	return true, nil
}

func (p *StateFile) corrupt(err error) error {
	return fmt.Errorf("sandbox: state file %s is corrupt (move it aside to start with an empty sandbox): %w", p.path, err)
}

// ReadMedia reads the bytes saved for id and checks them against their size and SHA-256.
func (p *StateFile) ReadMedia(id string, size int, sum string) ([]byte, error) {
	if !plainID(id) {
		return nil, fmt.Errorf("invalid resource id %s", QuoteShort(id))
	}
	path := filepath.Join(p.mediaDir, id)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("resource %s: %w", id, err)
	}
	got := sha256.Sum256(data)
	if len(data) != size || hex.EncodeToString(got[:]) != sum {
		return nil, fmt.Errorf("resource %s: %s does not hold the saved bytes (%d bytes, sha256 %s)", id, path, size, sum)
	}
	p.written[id] = true
	return data, nil
}

// plainID accepts ids the sandbox makes (UUIDs), which are safe as file names.
func plainID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range id {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '-') {
			return false
		}
	}
	return true
}

// CheckID is the error for an id that could not be a media file's name, nil otherwise.
func CheckID(id string) error {
	if !plainID(id) {
		return fmt.Errorf("invalid resource id %s", QuoteShort(id))
	}
	return nil
}

func (p *StateFile) removeStrayMedia() {
	entries, err := os.ReadDir(p.mediaDir)
	if err != nil {
		return
	}
	for _, de := range entries {
		if de.Type().IsRegular() && !p.written[de.Name()] {
			_ = os.Remove(filepath.Join(p.mediaDir, de.Name()))
		}
	}
}

// Watch has f told of every save that runs from now on: the change count it covers, and its
// error (tests wait on it).
func (p *StateFile) Watch(f func(changes uint64, err error)) {
	p.mu.Lock()
	p.onSave = f
	p.mu.Unlock()
}

// Start saves the state every interval when it changed, until Close.
func (p *StateFile) Start(interval time.Duration) {
	ctx, stop := context.WithCancel(context.Background())
	p.stop, p.done = stop, make(chan struct{})
	go func() {
		defer close(p.done)
		tk := time.NewTicker(interval)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
				_ = p.Save(false)
			}
		}
	}()
}

// Close stops the periodic saves, then saves once more.
func (p *StateFile) Close() error {
	if p.stop != nil {
		p.stop()
		<-p.done
	}
	return p.Save(true)
}

// Save writes the state file if anything changed since the last save (always with force). A
// failure is logged, once until a save works again, and returned.
func (p *StateFile) Save(force bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	changes := p.changes() // before the snapshot: a change it misses moves the count
	if !force && changes == p.saved {
		return nil
	}
	err := p.write()
	switch {
	case err != nil && (!p.failing || force):
		p.log.Error("sandbox: saving the state failed", "file", p.path, "error", err)
	case err == nil && p.failing:
		p.log.Info("sandbox: saving the state works again", "file", p.path)
	}
	p.failing = err != nil
	if err == nil {
		p.saved = changes
	}
	if p.onSave != nil {
		p.onSave(changes, err)
	}
	return err
}

// write saves the media files not yet on disk, then the JSON, so the JSON never names a file
// that is missing. Caller holds p.mu.
func (p *StateFile) write() error {
	snap, files, err := p.snapshot(func(id string) bool { return p.written[id] })
	if err == nil && len(files) > 0 {
		err = p.writeMedia(files)
	}
	var data []byte
	if err == nil {
		data, err = json.Marshal(snap)
	}
	if err == nil {
		err = writeFileDurably(p.path, append(data, '\n'))
	}
	if err != nil {
		return fmt.Errorf("sandbox: save state: %w", err)
	}
	return nil
}

func (p *StateFile) writeMedia(files []MediaFile) error {
	if err := os.MkdirAll(p.mediaDir, 0o700); err != nil {
		return err
	}
	for _, f := range files {
		if err := atomicfile.Replace(filepath.Join(p.mediaDir, f.ID), f.Data); err != nil {
			return err
		}
	}
	atomicfile.SyncDir(p.mediaDir)
	for _, f := range files {
		p.written[f.ID] = true
	}
	return nil
}

// writeFileDurably creates path's directory if needed, replaces path with data and syncs the
// directory.
func writeFileDurably(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := atomicfile.Replace(path, data); err != nil {
		return err
	}
	atomicfile.SyncDir(dir)
	return nil
}
