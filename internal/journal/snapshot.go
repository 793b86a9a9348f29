package journal

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"

	"github.com/mailmerge/mailmerge/internal/flatmap"
)

// A snapshot is the index of a journal as it was at Close, kept beside it
// (the journal's name + ".index") so that the next Open reads it instead
// of decoding every record again: a million letters are three million
// records, 13 s of JSON, and 36 MB of index, 0.3 s. It is only a cache:
// Open uses it when it matches the journal (the same bytes before the
// offset it covers, a checksum of its own) and replays the records after
// it; else it replays the whole journal, as without one.

// Version 6: destinations are logical (Destination): a snapshot of
// version 5 may hold "smtp:host:port", which only a replay folds into
// "smtp", so it is not read.
const snapshotMagic = "mailmerge journal index 6\n"

// snapshotMin is the journal size below which no snapshot is written:
// replaying a small journal is quicker than reading a second file.
var snapshotMin int64 = 4 << 20

// slotSize is a letter's key and slot in a snapshot.
const slotSize = 12 + 8 + 4 + 4 + 4

func snapshotPath(journal string) string { return journal + ".index" }

// tailSum is a hash of the journal's last bytes before off: a snapshot
// is for the journal whose bytes they are.
func tailSum(f *os.File, off int64) ([32]byte, error) {
	n := min(off, 4096)
	buf := make([]byte, n)
	if _, err := f.ReadAt(buf, off-n); err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(buf), nil
}

type snapshotWriter struct {
	w   *bufio.Writer
	crc hash.Hash32
	err error
}

func (s *snapshotWriter) bytes(b []byte) {
	if s.err == nil {
		s.crc.Write(b)
		_, s.err = s.w.Write(b)
	}
}

func (s *snapshotWriter) uint(v uint64) {
	var b [binary.MaxVarintLen64]byte
	s.bytes(b[:binary.PutUvarint(b[:], v)])
}

func (s *snapshotWriter) string(v string) {
	s.uint(uint64(len(v)))
	s.bytes([]byte(v))
}

func (s *snapshotWriter) status(st status) {
	s.string(string(st.state))
	s.uint(uint64(st.attempt))
	s.uint(uint64(st.rset))
	s.rcpts(st.rcpts)
}

func (s *snapshotWriter) rcpts(m map[string]State) {
	if m == nil {
		s.uint(0)
		return
	}
	s.uint(uint64(len(m)) + 1)
	addrs := make([]string, 0, len(m))
	for a := range m {
		addrs = append(addrs, a)
	}
	sort.Strings(addrs)
	for _, a := range addrs {
		s.string(a)
		s.string(string(m[a]))
	}
}

// writeSnapshot writes the index as it is after the journal's first off
// bytes, lines records. It is called with mu held, at Close.
func (j *Journal) writeSnapshot(off int64, lines int) error {
	sum, err := tailSum(j.f, off)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(j.path), ".index-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	s := &snapshotWriter{w: bufio.NewWriterSize(tmp, 1<<20), crc: crc32.New(castagnoli)}
	s.bytes([]byte(snapshotMagic))
	s.uint(uint64(off))
	s.uint(uint64(lines))
	s.bytes(sum[:])
	s.uint(uint64(len(j.dests)))
	for _, d := range j.dests {
		s.string(d)
	}
	s.uint(uint64(j.pairs))
	s.uint(uint64(j.letters.Len()))
	var b [slotSize]byte
	j.letters.All(func(k keyHash, sl slot) {
		copy(b[:12], k[:])
		binary.LittleEndian.PutUint64(b[12:], sl.rowFP())
		binary.LittleEndian.PutUint32(b[20:], sl.rset)
		binary.LittleEndian.PutUint32(b[24:], sl.made)
		b[28], b[29], b[30], b[31] = sl.state, sl.attempt, sl.dest, sl.delivered
		s.bytes(b[:])
	})
	s.uint(uint64(len(j.more)))
	for k, st := range j.more {
		s.bytes(k.k[:])
		s.uint(uint64(k.d))
		s.status(st)
	}
	s.uint(uint64(len(j.rcpts)))
	for k, m := range j.rcpts {
		s.bytes(k[:])
		s.rcpts(m)
	}
	var crc [4]byte
	binary.LittleEndian.PutUint32(crc[:], s.crc.Sum32())
	if s.err == nil {
		_, s.err = s.w.Write(crc[:])
	}
	if s.err == nil {
		s.err = s.w.Flush()
	}
	if cerr := tmp.Close(); s.err == nil {
		s.err = cerr
	}
	if s.err != nil {
		return s.err
	}
	return os.Rename(tmp.Name(), snapshotPath(j.path))
}

var errSnapshot = errors.New("journal index does not match")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type snapshotReader struct {
	r    *bufio.Reader
	size uint64 // of the snapshot: no count in it can be larger
	err  error
}

func (s *snapshotReader) uint() uint64 {
	if s.err != nil {
		return 0
	}
	v, err := binary.ReadUvarint(s.r)
	if err != nil {
		s.err = errSnapshot
	}
	return v
}

func (s *snapshotReader) bytes(n uint64) []byte {
	if s.err != nil || n > s.size {
		s.err = errSnapshot
		return nil
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(s.r, b); err != nil {
		s.err = errSnapshot
	}
	return b
}

func (s *snapshotReader) string() string { return string(s.bytes(s.uint())) }

func (s *snapshotReader) key() (k keyHash) {
	copy(k[:], s.bytes(uint64(len(k))))
	return k
}

func (s *snapshotReader) status() status {
	return status{state: State(s.string()), attempt: int32(s.uint()), rset: uint32(s.uint()), rcpts: s.rcpts()}
}

func (s *snapshotReader) rcpts() map[string]State {
	n := s.uint()
	if n == 0 || s.err != nil {
		return nil
	}
	n--
	if n > s.size {
		s.err = errSnapshot
		return nil
	}
	m := make(map[string]State, n)
	for range n {
		a := s.string()
		m[a] = State(s.string())
	}
	return m
}

// readSnapshot fills the index from the journal's snapshot, if it has one
// that matches, and returns the offset and the number of lines it covers;
// 0, 0 when there is none to use. It reads the file as a stream, checking
// its checksum at the end, so that it never holds it whole.
func (j *Journal) readSnapshot() (int64, int) {
	f, err := os.Open(snapshotPath(j.path))
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil || fi.Size() < int64(len(snapshotMagic))+4 {
		return 0, 0
	}
	var tail [4]byte
	if _, err := f.ReadAt(tail[:], fi.Size()-4); err != nil {
		return 0, 0
	}
	sum := crc32.New(castagnoli)
	body := io.TeeReader(io.LimitReader(f, fi.Size()-4), sum)
	s := &snapshotReader{r: bufio.NewReaderSize(body, 1<<20), size: uint64(fi.Size())}
	if string(s.bytes(uint64(len(snapshotMagic)))) != snapshotMagic {
		return 0, 0
	}
	off, lines := int64(s.uint()), int(s.uint())
	tailHash := s.bytes(32)
	jfi, err := j.f.Stat()
	if s.err != nil || err != nil || off <= 0 || off > jfi.Size() {
		return 0, 0
	}
	if want, err := tailSum(j.f, off); err != nil || !bytes.Equal(want[:], tailHash) {
		return 0, 0
	}
	nd := s.uint()
	if s.err != nil || nd > s.size {
		return 0, 0
	}
	dests := make([]string, nd)
	for i := range dests {
		dests[i] = s.string()
	}
	pairs := int(s.uint())
	n := s.uint()
	if s.err != nil || n > s.size/slotSize {
		return 0, 0
	}
	letters := flatmap.New[keyHash, slot](int(n), hash64)
	var b [slotSize]byte
	for range n {
		if _, err := io.ReadFull(s.r, b[:]); err != nil {
			return 0, 0
		}
		sl := slot{rset: binary.LittleEndian.Uint32(b[20:]), made: binary.LittleEndian.Uint32(b[24:]), state: b[28], attempt: b[29], dest: b[30], delivered: b[31]}
		sl.setRowFP(binary.LittleEndian.Uint64(b[12:]))
		letters.Put(keyHash(b[:12]), sl)
	}
	more := map[destKey]status{}
	for range s.uint() {
		k := destKey{s.key(), int(s.uint())}
		if k.d >= len(dests) {
			return 0, 0
		}
		more[k] = s.status()
		if s.err != nil {
			return 0, 0
		}
	}
	rcpts := map[keyHash]map[string]State{}
	for range s.uint() {
		k := s.key()
		rcpts[k] = s.rcpts()
		if s.err != nil {
			return 0, 0
		}
	}
	if _, err := s.r.ReadByte(); s.err != nil || err != io.EOF || sum.Sum32() != binary.LittleEndian.Uint32(tail[:]) {
		return 0, 0
	}
	j.dests, j.pairs, j.letters, j.more, j.rcpts = dests, pairs, letters, more, rcpts
	return off, lines
}
