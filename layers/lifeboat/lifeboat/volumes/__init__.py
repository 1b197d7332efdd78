"""Volume restore (``lifeboat restore volume``, docs/runbooks/bad-deploy.md): one volume of an
instance from a recovery point, as a new volume attached beside the original or swapped in its
place, run by ``statemachines/volume_restore.asl.json``; and its rollback."""
