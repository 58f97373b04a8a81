package devhost

import (
	"sync"
)

// sharedData is Envoy's process-wide shared data (proxy-wasm-cpp-host
// SharedData): one map per vm_id guarded by ONE mutex, a global CAS counter.
//
// Semantics (identical to cpp-host shared_data.cc):
//   - get of an absent key: NotFound.
//   - set with cas != 0 on a present key whose cas differs: CasMismatch.
//   - set of an absent key always succeeds, whatever cas says.
//   - every successful set stores a new cas from the counter; the counter
//     skips 0, so a stored cas is never 0.
//   - no delete, no TTL.
type sharedData struct {
	mu    sync.Mutex
	cas   uint32
	data  map[string]map[string]*sharedEntry
	bytes int
	keys  int
}

type sharedEntry struct {
	value []byte
	cas   uint32
}

func newSharedData() *sharedData {
	return &sharedData{cas: 1, data: map[string]map[string]*sharedEntry{}}
}

func (s *sharedData) nextCas() uint32 {
	c := s.cas
	s.cas++
	if s.cas == 0 {
		s.cas = 1
	}
	return c
}

// get copies the value out (the caller copies it into the VM afterwards,
// outside the lock, as cpp-host does).
func (s *sharedData) get(vmID string, key []byte) ([]byte, uint32, Status) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.data[vmID][string(key)]
	if !ok {
		return nil, 0, StatusNotFound
	}
	return append([]byte(nil), e.value...), e.cas, StatusOK
}

func (s *sharedData) set(vmID string, key, value []byte, cas uint32) Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.data[vmID]
	if m == nil {
		m = map[string]*sharedEntry{}
		s.data[vmID] = m
	}
	if e, ok := m[string(key)]; ok {
		if cas != 0 && cas != e.cas {
			return StatusCasMismatch
		}
		s.bytes += len(value) - len(e.value)
		e.value = append(e.value[:0], value...)
		e.cas = s.nextCas()
		return StatusOK
	}
	m[string(key)] = &sharedEntry{value: append([]byte(nil), value...), cas: s.nextCas()}
	s.keys++
	s.bytes += len(key) + len(value)
	return StatusOK
}

func (s *sharedData) stats() (keys, bytes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.keys, s.bytes
}

// sharedQueues is Envoy's shared queue registry. A queue is identified by
// (vm_id, name) and has a process-wide token. Registering again (from any VM)
// makes the registering root context the receiver of proxy_on_queue_ready:
// "on_queue_ready runs on the thread that registered the queue last".
type sharedQueues struct {
	mu     sync.Mutex
	next   uint32
	byName map[queueKey]uint32
	queues map[uint32]*sharedQueue
}

type queueKey struct{ vmID, name string }

type sharedQueue struct {
	owner *instance
	root  uint32
	items [][]byte
}

func newSharedQueues() *sharedQueues {
	return &sharedQueues{next: 1, byName: map[queueKey]uint32{}, queues: map[uint32]*sharedQueue{}}
}

func (q *sharedQueues) register(vmID, name string, owner *instance, root uint32) uint32 {
	q.mu.Lock()
	defer q.mu.Unlock()
	k := queueKey{vmID, name}
	id, ok := q.byName[k]
	if !ok {
		id = q.next
		q.next++
		q.byName[k] = id
		q.queues[id] = &sharedQueue{}
	}
	sq := q.queues[id]
	sq.owner, sq.root = owner, root
	return id
}

func (q *sharedQueues) resolve(vmID, name string) (uint32, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	id, ok := q.byName[queueKey{vmID, name}]
	return id, ok
}

// enqueue appends and returns the receiver to notify.
func (q *sharedQueues) enqueue(id uint32, v []byte) (*instance, uint32, Status) {
	q.mu.Lock()
	defer q.mu.Unlock()
	sq, ok := q.queues[id]
	if !ok {
		return nil, 0, StatusNotFound
	}
	sq.items = append(sq.items, append([]byte(nil), v...))
	return sq.owner, sq.root, StatusOK
}

func (q *sharedQueues) dequeue(id uint32) ([]byte, Status) {
	q.mu.Lock()
	defer q.mu.Unlock()
	sq, ok := q.queues[id]
	if !ok {
		return nil, StatusNotFound
	}
	if len(sq.items) == 0 {
		return nil, StatusEmpty
	}
	v := sq.items[0]
	sq.items[0] = nil
	sq.items = sq.items[1:]
	return v, StatusOK
}

func (q *sharedQueues) backlog() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	n := 0
	for _, sq := range q.queues {
		n += len(sq.items)
	}
	return n
}
