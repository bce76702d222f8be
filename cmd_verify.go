package main

func init() {
	register("verify", "verify a saved framed stream offline", notBuilt("verify"))
}
