package journal

import (
	"fmt"
	"os"
	"time"

	"github.com/mailmerge/mailmerge/internal/letter"
)

// Append queues r. It is written with the next Commit (of any letter) or
// on Close; use it for records a crash may lose.
func (j *Journal) Append(r Record) error {
	_, err := j.queue(r)
	return err
}

// Write queues r and writes it to the file without waiting for the
// disk: a crash of the process keeps it, a power cut may not until the
// next Commit (of any letter) or Close makes it durable. It is for the
// outcome of a letter: losing it leaves the letter's eod, which replays
// as unknown, never as due. It waits for another goroutine's write, never
// for an fsync.
func (j *Journal) Write(r Record) error {
	seq, err := j.queue(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.written < seq && j.err == nil {
		if j.writing {
			j.cond.Wait()
			continue
		}
		j.writeLocked()
	}
	return j.err
}

// Commit queues r and returns once it is durable. Records queued by other
// goroutines meanwhile share the same fsync (group commit): while one
// goroutine syncs, the others write their records, and the next sync
// makes them all durable.
func (j *Journal) Commit(r Record) error {
	seq, err := j.queue(r)
	if err != nil {
		return err
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.synced < seq && j.err == nil {
		switch {
		case j.written < seq && j.writing, j.written >= seq && j.syncing:
			j.cond.Wait()
		case j.written < seq:
			j.writeLocked()
		default:
			j.syncLocked()
		}
	}
	return j.err
}

func (j *Journal) queue(r Record) (uint64, error) {
	if r.Time.IsZero() && j.Now != nil {
		r.Time = j.Now().UTC()
	} else if r.Time.IsZero() {
		r.Time = time.Now().UTC()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return 0, j.err
	}
	j.pending = append(appendRecord(j.pending, &r), '\n')
	j.seq++
	j.Add(r)
	return j.seq, nil
}

// flushLocked writes and syncs everything queued, once no other I/O runs.
func (j *Journal) flushLocked() {
	for j.writing || j.syncing {
		j.cond.Wait()
	}
	if j.written < j.seq {
		j.writeLocked()
	}
	if j.err == nil && j.synced < j.written {
		j.syncLocked()
	}
}

// writeLocked writes everything queued. It is called with mu held and no
// other write running; it releases mu while it writes, so that others
// can queue meanwhile, and a sync may run beside it.
func (j *Journal) writeLocked() {
	j.writing = true
	buf, upto := j.pending, j.seq
	j.pending = j.spare[:0]
	j.mu.Unlock()
	var err error
	if len(buf) > 0 {
		_, err = j.f.Write(buf)
	}
	j.mu.Lock()
	j.spare = buf[:0]
	j.writing = false
	if err != nil {
		j.err = fmt.Errorf("write journal %s: %w", j.path, err)
	} else {
		j.written = upto
	}
	j.cond.Broadcast()
}

// syncLocked makes everything written so far durable. It is called with
// mu held and no other sync running, and releases mu while it syncs:
// records written meanwhile wait for the next sync.
func (j *Journal) syncLocked() {
	j.syncing = true
	upto := j.written
	j.mu.Unlock()
	err := syncFile(j.f)
	j.mu.Lock()
	j.syncing = false
	if err != nil {
		j.err = fmt.Errorf("write journal %s: %w", j.path, err)
	} else {
		j.syncs++
		j.synced = max(j.synced, upto)
	}
	j.cond.Broadcast()
}

// RecordInvalid records a row that made no letter, left out of a send on
// request (send --skip-invalid), under key (letter.InvalidKey), with the
// problem.
func (j *Journal) RecordInvalid(key letter.Key, dest string, line int, fp uint64, problem string) error {
	return j.Commit(Record{Key: key, Dest: dest, Line: line, FP: fp, State: Invalid, Text: problem})
}

// Syncs reports how many fsyncs the journal did, for measurements.
func (j *Journal) Syncs() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.syncs
}

// syncFile is os.File.Sync; tests hold it to see what waits for the disk.
var syncFile = (*os.File).Sync
