package main

func init() {
	register("sim", "run the legacy backup service simulator", notBuilt("sim"))
}
