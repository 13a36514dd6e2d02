"""What the two ranking workers (AP-loss; Rank & Sort and aLRP) share:
how each case changes the union batch, and which rows each of the two
ranks holds."""

SPLIT = 200  # rank 0 holds rows [0, SPLIT), rank 1 the rest


def apply_case(case, pred, labels, background):
    """In place: ``nopos`` leaves rank 1 without positives, ``allneg``
    leaves no positive at all, ``shifted`` raises all of rank 1's scores
    (its ranking differs from rank 0's)."""
    if case == 'nopos':
        labels[SPLIT:] = background
    if case == 'allneg':
        labels[:] = background
    if case == 'shifted':
        pred[SPLIT:] += 3.0


def rows_of(rank, case, n):
    """This rank's rows of the ``n``-row union; ``empty``: rank 1 has
    none."""
    if case == 'empty':
        return slice(0, n) if rank == 0 else slice(n, n)
    return slice(0, SPLIT) if rank == 0 else slice(SPLIT, n)
