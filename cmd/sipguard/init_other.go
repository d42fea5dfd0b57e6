//go:build !linux

package main

// runInit: only Linux boots the box.
func runInit() {}
