package filter

import (
	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/types"
)

type vmContext struct{ types.DefaultVMContext }

// NewVMContext returns the plugin's VM context.
func NewVMContext() types.VMContext { return &vmContext{} }
