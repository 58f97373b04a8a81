package devhost

import (
	"net/http"
	"strconv"
)

// AdminHandler serves a small part of Envoy's admin interface:
//
//	/stats/prometheus  plugin stats in Envoy's Prometheus text format, tags
//	                   extracted with Options.StatsTags (custom Wasm stats:
//	                   "wasmcustom." stripped, no "envoy_" prefix), e.g.
//	                   breakwater.policy=.=orders;.;requests_total
//	                   -> breakwater_requests_total{policy="orders"}
//	/stats             plain text "wasmcustom.NAME: VALUE" plus devhost.* counters
//	/ready             "LIVE"
func (h *Host) AdminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/stats/prometheus", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		writePrometheus(w, h.metrics.snapshot())
	})
	mux.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		writeStatsText(w, h.metrics.snapshot(), h.ownStats())
	})
	mux.HandleFunc("/ready", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-h.done:
			http.Error(w, "DRAINING", http.StatusServiceUnavailable)
		default:
			w.Write([]byte("LIVE\n"))
		}
	})
	return mux
}

func (h *Host) ownStats() []ownStat {
	s := h.Stats()
	keys, bytes := h.SharedDataSize()
	out := []ownStat{
		{"devhost.requests", s.Requests},
		{"devhost.host_calls", s.HostCalls},
		{"devhost.request_host_calls", s.RequestHostCalls},
		{"devhost.vm_traps", s.Traps},
		{"devhost.vm_replacements", s.VMReplacements},
		{"devhost.upstream_rq_attempts", s.UpstreamAttempts},
		{"devhost.upstream_rq_retry", s.Retries},
		{"devhost.upstream_rq_retry_overflow", s.RetryOverflow},
		{"devhost.callouts", s.Callouts},
		{"devhost.local_replies", s.LocalReplies},
		{"devhost.resets", s.Resets},
		{"devhost.ticks", s.Ticks},
		{"devhost.queue_ready", s.QueueReady},
		{"devhost.wasi_poll_oneoff", s.PollOneoff},
		{"devhost.shared_data_keys", uint64(keys)},
		{"devhost.shared_data_bytes", uint64(bytes)},
		{"devhost.shared_queue_backlog", uint64(h.queues.backlog())},
	}
	for i, p := range h.MemoryPages() {
		out = append(out, ownStat{"devhost.vm" + strconv.Itoa(i) + ".memory_pages", uint64(p)})
	}
	return out
}
