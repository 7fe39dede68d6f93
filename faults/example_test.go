package faults_test

import (
	"fmt"

	"paylab/faults"
	"paylab/regions"
)

// The lab turns each timeline step of a scenario into a faults.Step;
// parameters are checked against the topology before anything runs, and
// every error names the step's place in the file and the parameter.
func ExampleStepFor() {
	topo := regions.DefaultTopology() // us-east a/b/c hold the ledger, eu-west has clients and a gateway
	inject, err := faults.StepFor(topo, 0, "zone-down", "", "us-east/a", map[string]any{"mode": "crash"}, "zone-failover.yaml:21:5")
	fmt.Println(inject.Inject.Name(), inject.Inject.Target(), err)

	heal, err := faults.StepFor(topo, 0, "", "zone-down", "us-east/a", nil, "zone-failover.yaml:22:5")
	fmt.Println(heal.Heal, heal.Target, err)
	fmt.Println(faults.CheckSteps([]faults.Step{inject, heal}))

	_, err = faults.StepFor(topo, 0, "latency", "", "eu-west", map[string]any{"latency": "-40ms"}, "x.yaml:7:5")
	fmt.Println(err)
	_, err = faults.StepFor(topo, 0, "partition", "", "us-east/d", nil, "x.yaml:8:5")
	fmt.Println(err)
	// Output:
	// zone-down us-east/a <nil>
	// zone-down us-east/a <nil>
	// <nil>
	// x.yaml:7:5: latency: parameter latency: -40ms is negative
	// x.yaml:8:5: partition: target "us-east/d": region "us-east" has no zone "d"
}
