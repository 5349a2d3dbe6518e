-- Schema version 3: the owners of a component name, who (besides administrators) may publish
-- and change its versions through the API. A JSON list of owner strings (`api:<token>`); NULL
-- means the name's first publisher (`components.owner`) alone, as every name was before.
ALTER TABLE components ADD COLUMN owners TEXT;
