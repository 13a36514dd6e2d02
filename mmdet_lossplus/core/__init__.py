"""What the losses, heads and hooks share below the registered modules,
with no mmdet or mmengine import: mmdet's classification targets checked
and converted (``targets``), the ranking losses over the global mini-batch
(``global_ranking``) and the autograd Function that turns their updates
into gradients (``ranking_updates``)."""
