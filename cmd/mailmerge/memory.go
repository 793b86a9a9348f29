package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
)

// bigHeap is the live heap above which a send keeps garbage to 15% of it
// instead of letting it grow to the live heap's size.
const bigHeap = 32 << 20

// bigList is the size of a recipients file whose send will keep a large
// index: its garbage is kept down from the start, while the list is
// checked, before the index is there to measure. A million rows are
// 70-125 MB.
const bigList = 16 << 20

// tuneGC makes the collector run sooner once the send keeps a large
// index (a million letters' journal and envelopes, some 60 MB, kept to
// the end): by default it lets the heap grow to twice what is live, and a
// million-letter send peaked at 250 MB, most of it garbage; at 25% it
// peaked at 105 MB with a 2.9 KB Russian letter, at 15% at 90 MB, for 3%
// more CPU. The index holds no pointers, so collecting more often costs
// little. A collector goal that
// moves with the live heap, unlike a fixed memory limit, never makes the
// collector run without end when the live heap grows. A GOGC or
// GOMEMLIMIT the user set wins. list is the recipients file.
func tuneGC(list string) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	if fi, err := os.Stat(list); err == nil && fi.Size() > bigList {
		// The check of a million rows peaked at 101 MB with the
		// default, before the index was made.
		debug.SetGCPercent(15)
		return
	}
	runtime.GC() // the live heap is known after a collection: the index may be new
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 && s[0].Value.Uint64() > bigHeap {
		debug.SetGCPercent(15)
	}
}
