// Command hang is a firmware that never becomes healthy: as the init of a
// root slot it only waits. The update test installs it to see the box go
// back to the firmware it ran before.
package main

import (
	"fmt"
	"time"
)

func main() {
	fmt.Println("hang: a firmware that never reports healthy")
	for {
		time.Sleep(time.Hour)
	}
}
