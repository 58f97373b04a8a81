// Command wasm is the plugin's main package: built with GOOS=wasip1
// GOARCH=wasm -buildmode=c-shared it is dist/breakwater.wasm. A c-shared
// module never runs main; the VM context is registered in init, which runs
// from _initialize.
package main
