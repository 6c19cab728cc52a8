package sync

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Checkpoint is where a sync stands in its source's replication stream:
// every command up to Offset (the replication offset just after it) of
// the history named ReplID has been applied to the target. A sync resumes
// with PSYNC ReplID Offset+1, which the source answers with +CONTINUE
// while its backlog still holds that offset.
type Checkpoint struct {
	Source string `json:"source"` // the source, without its password
	ReplID string `json:"replid"`
	Offset int64  `json:"offset"`
	// DB is the database the stream had selected at Offset: a continued
	// stream goes on in it until its next SELECT, as a replica's cached
	// master client does.
	DB int `json:"db"`
	// DataOffset and DataDB are the position after the last command
	// applied, before the PINGs that followed it (Pos).
	DataOffset int64     `json:"data_offset"`
	DataDB     int       `json:"data_db"`
	Saved      time.Time `json:"saved"`
}

// Pos is the checkpoint's position.
func (c *Checkpoint) Pos() Pos {
	return Pos{Offset: c.Offset, DB: c.DB, DataOffset: c.DataOffset, DataDB: c.DataDB}
}

// Valid tells whether the checkpoint names a position to resume from.
func (c *Checkpoint) Valid() bool { return c != nil && len(c.ReplID) == 40 && c.Offset >= 0 }

// CheckpointKeyPrefix starts the names of the keys a sync keeps its
// position in on the target. compare and the sync filters leave such keys
// out.
const CheckpointKeyPrefix = "redkit:"

// CheckpointKey is the key of a sync named name on its target.
func CheckpointKey(name string) string { return CheckpointKeyPrefix + "sync:" + name }

// targetValue is the checkpoint as stored on the target:
// "replid offset db data-offset data-db".
func (c *Checkpoint) targetValue() []byte {
	return appendTargetValue(nil, c.ReplID, c.Pos())
}

func appendTargetValue(b []byte, replid string, p Pos) []byte {
	b = append(append(b, replid...), ' ')
	for i, n := range []int64{p.Offset, int64(p.DB), p.DataOffset, int64(p.DataDB)} {
		if i > 0 {
			b = append(b, ' ')
		}
		b = strconv.AppendInt(b, n, 10)
	}
	return b
}

func parseTargetValue(v []byte) (*Checkpoint, error) {
	f := strings.Fields(string(v))
	if (len(f) == 3 || len(f) == 5) && len(f[0]) == 40 {
		var n [4]int64
		ok := true
		for i, x := range f[1:] {
			var err error
			if n[i], err = strconv.ParseInt(x, 10, 64); err != nil || n[i] < 0 {
				ok = false
			}
		}
		if len(f) == 3 {
			n[2], n[3] = n[0], n[1]
		}
		if ok {
			return &Checkpoint{ReplID: f[0], Offset: n[0], DB: int(n[1]), DataOffset: n[2], DataDB: int(n[3])}, nil
		}
	}
	return nil, fmt.Errorf("checkpoint %q is not \"<replid> <offset> <db> <data-offset> <data-db>\"", v)
}

// LoadCheckpoint reads a checkpoint file; a missing file is (nil, nil).
func LoadCheckpoint(path string) (*Checkpoint, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	var c Checkpoint
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w (delete it to start with a full sync)", path, err)
	}
	if c.ReplID == "" {
		return nil, nil // written when a full sync started: nothing to resume
	}
	if !c.Valid() {
		return nil, fmt.Errorf("checkpoint %s: bad replication ID %q or offset %d (delete it to start with a full sync)", path, c.ReplID, c.Offset)
	}
	return &c, nil
}

// SaveCheckpoint writes c to path atomically: a temporary file in the
// same directory, synced, then renamed over path. A nil c records that
// there is nothing to resume from (a full sync is under way).
func SaveCheckpoint(path string, c *Checkpoint) error {
	if c == nil {
		c = &Checkpoint{}
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}
