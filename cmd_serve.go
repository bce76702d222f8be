package main

func init() {
	register("serve", "run the validating, reframing sidecar proxy", notBuilt("serve"))
}
