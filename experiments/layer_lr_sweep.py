"""One layer kind's learning rate swept alone across widths (logic:
abcparam.experiments.layer_lr_sweep).

Run: ``python experiments/layer_lr_sweep.py --task mlp --kinds hidden --schemes sp``.
"""

from abcparam.experiments.layer_lr_sweep import main

if __name__ == "__main__":
    raise SystemExit(main())
