// Package board is the hardware the box runs on: its profiles (which ports
// are wan and lan, which lines drive the LEDs and read the button) and its
// devices, such as the hardware watchdog.
package board
