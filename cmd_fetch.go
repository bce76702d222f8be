package main

func init() {
	register("fetch", "fetch a framed stream through the sidecar and verify it", notBuilt("fetch"))
}
