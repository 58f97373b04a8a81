package filter

import (
	"time"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

// clock is the one place the filter reads the time: once per callback, and
// the instant is passed down to the patterns. Native tests replace it.
var clock = time.Now

type vmContext struct{ types.DefaultVMContext }

// NewVMContext returns the plugin's VM context: one per Envoy worker VM.
func NewVMContext() types.VMContext { return &vmContext{} }

func (*vmContext) NewPluginContext(id uint32) types.PluginContext { return newPluginContext(id) }
