"""Applications: tiers of instances, Auto Scaling groups and databases recovered as one unit
(docs: Concepts, Applications). An AZ evacuation is one execution of
``statemachines/evacuate.asl.json``: :mod:`.planning` (reads only: members, T, each member's
point) → :mod:`.stages` (begin, each member's act/check/settle, finish, abort, undo), with
:mod:`.changes` recording what it changes before changing it. (Nothing is imported here:
``lifeboat.plans`` imports :mod:`.models`.)"""
