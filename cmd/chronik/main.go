// Command chronik is a Kafka-compatible streaming broker.
//
// Exit codes: 0 success, 1 error, 2 bad flags or arguments.
package main

import "os"

func main() {
	os.Exit(run())
}
