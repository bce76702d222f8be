package main

func init() {
	register("demo", "simulator + sidecar + verified fetch, showing a truncation caught", notBuilt("demo"))
}
