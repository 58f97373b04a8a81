package filter

import (
	"crypto/rand"
	"errors"

	"github.com/breakwater/breakwater/patterns/store"
)

// hashKeyName is the shared-data key of the deployment's hash secret under
// the namespace.
const hashKeyName = "/hash_key"

// deploymentHashKey returns the 128-bit secret that keys every hash of a
// client-chosen key (table sets, stale slots). It is drawn once from WASI
// random_get (crypto/rand) and stored in shared data with create-if-absent
// (store.CreateCAS: the first VM's write creates the key, any other VM's
// write fails and it reads the stored one), so every VM and every reload of
// the deployment uses the same secret. A value of another length than 16
// bytes is replaced. When shared data is unusable the secret of this VM is
// used alone (its keys hash differently from other VMs' until shared data
// works again at the next start: state split, never shared wrongly).
func deploymentHashKey(st store.Store, ns string) store.HashKey {
	key := ns + hashKeyName
	for range store.MaxAttempts {
		v, cas, err := st.Get(key)
		switch {
		case err == nil:
			if k, ok := store.HashKeyFromBytes(v); ok {
				return k
			}
		case errors.Is(err, store.ErrNotFound):
			cas = store.CreateCAS
		default:
			logLimited("breakwater: hash key unavailable, using this VM's own: %v", err)
			return randomHashKey()
		}
		k := randomHashKey()
		err = st.Set(key, k.Bytes(), cas)
		if err == nil {
			return k
		}
		if !errors.Is(err, store.ErrCASMismatch) {
			logLimited("breakwater: hash key not stored, using this VM's own: %v", err)
			return k
		}
	}
	return randomHashKey()
}

func randomHashKey() store.HashKey {
	var b [16]byte
	_, _ = rand.Read(b[:]) // WASI random_get; never fails on wasip1 (it panics rather)
	k, _ := store.HashKeyFromBytes(b[:])
	return k
}

// keyHash is the keyed hash of a client-chosen key.
func (p *pluginContext) keyHash(s string) uint64 { return p.hashKey.Sum(s) }
