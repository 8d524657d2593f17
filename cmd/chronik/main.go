// Command chronik is a Kafka-compatible streaming broker.
//
// Exit codes: 0 success, 1 error, 2 bad flags or arguments, 74 (EX_IOERR)
// `chronik serve` stopped itself because writing to its data dir failed.
package main

import "os"

func main() {
	os.Exit(run())
}
