"""Auto Scaling groups: Lifeboat protects the *group* (its launch template and image), never its
members one by one (docs: Concepts, Auto Scaling groups)."""
