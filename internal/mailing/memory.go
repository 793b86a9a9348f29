package mailing

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// bigHeap is the live heap above which a send keeps garbage to 15% of it
// instead of letting it grow to the live heap's size.
const bigHeap = 32 << 20

// bigList is the size of a recipients file whose send will keep a large
// index: its garbage is kept down from the start, while the list is
// checked, before the index is there to measure. A million rows are
// 70-125 MB.
const bigList = 16 << 20

// smallHeapGarbage is the garbage a send whose live heap is small lets
// build up between collections. The default (as much garbage as live
// heap) collects a 10,000-letter send's few megabytes every few hundred
// letters: at 32 MB a send of the bench's letters used a fifth less CPU,
// for some 20 MB more peak RSS.
const smallHeapGarbage = 32 << 20

// tuneGC sets the collector's goal for a send, and keeps it set while
// the live heap changes, until stop is called:
//   - a large index (a million letters' journal and envelopes, some 60 MB,
//     kept to the end) is collected at 15% of the live heap: by default
//     the heap grows to twice what is live, and a million-letter send
//     peaked at 250 MB, most of it garbage; at 25% it peaked at 105 MB
//     with a 2.9 KB Russian letter, at 15% at 90 MB, for 3% more CPU. The
//     index holds no pointers, so collecting more often costs little;
//   - a small live heap is let to grow by smallHeapGarbage (between 1 and
//     4 times its size) before it is collected.
//
// A goal that moves with the live heap, unlike a fixed memory limit, never
// makes the collector run without end when the live heap grows (a
// shared attachment read in). A GOGC or GOMEMLIMIT the user set wins.
// list is the recipients file.
//
// Measured against the default (GOGC=100) and GOMEMLIMIT, on 2026-12-07
// (docs/performance.md, "Memory and the collector"): a million letters
// peak at 88 MB (141 MB by default) for no more CPU; 10,000 letters take
// 10-20% less CPU for 12 MB more; GOMEMLIMIT does as the default does
// while the heap stays under it. So the tuner stays.
func tuneGC(list string) (stop func()) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	if fi, err := os.Stat(list); err == nil && fi.Size() > bigList {
		// The check of a million rows peaked at 101 MB with the
		// default, before the index was made.
		debug.SetGCPercent(15)
		return func() {}
	}
	runtime.GC() // the live heap is known after a collection: the index may be new
	percent := gcPercent(liveHeap())
	debug.SetGCPercent(percent)
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(250 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if p := gcPercent(liveHeap()); p != percent {
					percent = p
					debug.SetGCPercent(p)
				}
			}
		}
	}()
	return func() { close(done) }
}

// gcPercent is the collector's goal for a live heap of live bytes.
func gcPercent(live uint64) int {
	if live > bigHeap {
		return 15
	}
	return int(min(400, max(100, smallHeapGarbage*100/max(live, 1))))
}

// liveHeap is the heap the last collection found live.
func liveHeap() uint64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}
