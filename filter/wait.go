package filter

import "time"

// waitList holds the paused requests of one VM with the instant each is due.
// It is small (bounded by the paused requests of this worker) and scanned
// by the tick; arrival order is kept, so requests due at the same instant
// resume in the order they arrived.
type waitList struct {
	items []waitItem
}

type waitItem struct {
	h   *httpContext
	due time.Time
}

func (w *waitList) add(h *httpContext, due time.Time) {
	w.items = append(w.items, waitItem{h, due})
}

func (w *waitList) remove(h *httpContext) {
	for i, it := range w.items {
		if it.h == h {
			w.items = append(w.items[:i], w.items[i+1:]...)
			return
		}
	}
}

// due calls f, in arrival order, for every request due at now, and removes it.
func (w *waitList) due(now time.Time, f func(*httpContext)) {
	var ready []*httpContext
	kept := w.items[:0]
	for _, it := range w.items {
		if !it.due.After(now) {
			ready = append(ready, it.h)
		} else {
			kept = append(kept, it)
		}
	}
	for i := len(kept); i < len(w.items); i++ {
		w.items[i] = waitItem{}
	}
	w.items = kept
	for _, h := range ready {
		f(h)
	}
}
