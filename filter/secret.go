package filter

import (
	"errors"
	"math/rand/v2"

	"github.com/breakwater/breakwater/patterns/store"
)

// hashKeyName is the shared-data key of the deployment's hash secret under
// the namespace.
const hashKeyName = "/hash_key"

// deploymentHashKey returns the 128-bit secret that keys every hash of a
// client-chosen key (table sets, stale slots). It is drawn once from WASI
// random_get (randomHashKey) and stored in shared data with create-if-absent
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

// randomHashKey draws 128 bits from the Go runtime's ChaCha8 generator,
// which the runtime seeds from WASI random_get (never the clock). Not
// crypto/rand: its first Read arms a one-minute timer, and a pending timer
// makes the runtime call poll_oneoff, which Envoy 1.33-1.38 lack
// (e2e TestEnvoy133WASILoad).
func randomHashKey() store.HashKey { return store.HashKey{rand.Uint64(), rand.Uint64()} }

// keyHash is the keyed hash of a client-chosen key.
func (p *pluginContext) keyHash(s string) uint64 { return p.hashKey.Sum(s) }
