"""Issue-28 reruns: adaptive batched LR sweeps with bootstrap intervals and transfer regret
(logic: abcparam.experiments.regret_sweeps).

Run: ``python experiments/regret_sweeps.py {width-mlp,width-gpt,depth-gpt,muon-lion-mlp,muon-lion-gpt}``.
"""

from abcparam.experiments.regret_sweeps import main

if __name__ == "__main__":
    raise SystemExit(main())
